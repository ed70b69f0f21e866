// STOW-RS against the running server: stored through the C-STORE path with its rules (storage
// classes, duplicates), answered per PS3.18 10.5.3; malformed or cut-off requests store
// nothing of an unfinished part, and the server goes on.
import assert from "node:assert/strict";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../../helpers/corpus.ts";
import { hasTool, startMiniPacs } from "../../helpers/server.ts";
import { get, json } from "./fixture.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const spec = (name: string) => CORPUS_CLASSES.find((c) => c.name === name)!;
const ready = hasTool("dump2dcm");
type Json = Record<string, { vr: string; Value?: Json[] | unknown[] }>;

const enc = new TextEncoder();

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

function multipart(boundary: string, parts: { type?: string; body: Uint8Array }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    chunks.push(
      enc.encode(`--${boundary}\r\nContent-Type: ${p.type ?? "application/dicom"}\r\n\r\n`),
    );
    chunks.push(p.body, enc.encode("\r\n"));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function stow(url: string, files: CorpusObject[] | Uint8Array, type?: string) {
  const boundary = "test-boundary-1234";
  const body = files instanceof Uint8Array ? files : multipart(
    boundary,
    await Promise.all(files.map(async (f) => ({ body: await Deno.readFile(f.path) }))),
  );
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": type ?? `multipart/related; type="application/dicom"; boundary=${boundary}`,
      Accept: "application/dicom+json",
    },
    body: body as Uint8Array<ArrayBuffer>,
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith("{") ? JSON.parse(text) as Json : text };
}

const seq = (body: Json | string, tag: string) =>
  typeof body === "string" ? [] : ((body[tag]?.Value ?? []) as Json[]);
const reasons = (body: Json | string) => seq(body, "00081198").map((i) => i["00081197"].Value![0]);

Deno.test({
  name: "STOW-RS stores through the C-STORE path and answers per PS3.18 10.5.3",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-stow-" });
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0, bind: "127.0.0.1" },
      storage: { sop_classes: [CT], duplicates: "reject" },
    });
    const root = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
    const study = newUid();
    const series = newUid();
    const ct = (n: number, s = study) =>
      makeObject({
        spec: spec("CT Image"),
        dir,
        studyInstanceUid: s,
        seriesInstanceUid: series,
        instanceNumber: n,
        patientId: "STOW1",
      });
    try {
      const [a, b, c] = [await ct(1), await ct(2), await ct(3)];
      await t.step("all stored: 200, Referenced SOP Sequence with Retrieve URLs", async () => {
        const r = await stow(`${root}/studies`, [a, b]);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const refs = seq(r.body, "00081199");
        assert.deepEqual(
          refs.map((i) => i["00081155"].Value![0]).sort(),
          [a.sopInstanceUid, b.sopInstanceUid].sort(),
        );
        const url = refs[0]["00081190"].Value![0] as string;
        assert.ok(url.startsWith(`${root}/studies/${study}/series/${series}/instances/`), url);
        assert.equal((await get(url, 'multipart/related; type="application/dicom"')).status, 200);
        assert.deepEqual((r.body as Json)["00081190"].Value, [`${root}/studies/${study}`]);
        const found = json((await get(`${root}/studies/${study}/instances`)).body) as Json[];
        assert.equal(found.length, 2, "QIDO finds what STOW stored");
      });
      await t.step(
        "some refused (storage class not accepted): 202 with Failure Reason",
        async () => {
          const mr = await makeObject({ spec: spec("MR Image"), dir });
          const r = await stow(`${root}/studies`, [c, mr]);
          assert.equal(r.status, 202);
          assert.equal(seq(r.body, "00081199").length, 1);
          assert.deepEqual(reasons(r.body), [0x0122]);
        },
      );
      await t.step("duplicates = reject: 409, as C-STORE answers 0x0111", async () => {
        const r = await stow(`${root}/studies`, [a]);
        assert.equal(r.status, 409);
        assert.deepEqual(reasons(r.body), [0x0111]);
      });
      await t.step("an instance of another study than the path's is refused", async () => {
        const other = await ct(4, newUid());
        const r = await stow(`${root}/studies/${study}`, [other]);
        assert.equal(r.status, 409);
        assert.deepEqual(reasons(r.body), [0xa900]);
      });
      await t.step(
        "other content types 415; malformed multipart 400; not DICOM fails",
        async () => {
          assert.equal((await stow(`${root}/studies`, [a], "application/dicom")).status, 415);
          assert.equal(
            (await stow(
              `${root}/studies`,
              [a],
              'multipart/related; type="application/dicom+json"; boundary=x',
            )).status,
            415,
          );
          const garbage = enc.encode("this is not a multipart body at all");
          assert.equal((await stow(`${root}/studies`, garbage)).status, 400);
          const unterminated = multipart("test-boundary-1234", [{
            body: await Deno.readFile(c.path),
          }])
            .subarray(0, 400);
          assert.equal((await stow(`${root}/studies`, unterminated)).status, 400);
          const notDicom = multipart("test-boundary-1234", [{ body: enc.encode("x".repeat(300)) }]);
          const r = await stow(`${root}/studies`, notDicom);
          assert.equal(r.status, 409);
          assert.deepEqual(reasons(r.body), [0xc000]);
          assert.equal((await get(`${root}/studies`)).status, 200, "the server goes on");
        },
      );
      await t.step("a request cut off mid-part stores the finished parts only", async () => {
        const done = await ct(5);
        const cut = await ct(6);
        const boundary = "cut-boundary";
        const full = multipart(boundary, [
          { body: await Deno.readFile(done.path) },
          { body: await Deno.readFile(cut.path) },
        ]);
        // Cut just before the second object's Pixel Data: what arrived is a well-formed
        // dataset on its own, so only knowing the request broke off keeps it out.
        const second = await Deno.readFile(cut.path);
        let pixelAt = -1;
        for (let i = 132; i + 4 <= second.length; i += 2) {
          if (
            second[i] === 0xe0 && second[i + 1] === 0x7f && second[i + 2] === 0x10 &&
            second[i + 3] === 0x00
          ) {
            pixelAt = i;
            break;
          }
        }
        assert.ok(pixelAt > 0);
        const secondStart = indexOf(full, second.subarray(0, pixelAt));
        // The reader holds back a delimiter's length but one (it might be the start of one):
        // send that much more, so what reaches the store ends right before Pixel Data.
        const heldBack = `\r\n--${boundary}`.length - 1;
        const sent = full.subarray(0, secondStart + pixelAt + heldBack);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: pacs.httpPort! });
        const head = `POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          `Content-Type: multipart/related; type="application/dicom"; boundary=${boundary}\r\n` +
          `Content-Length: ${full.length}\r\n\r\n`;
        await conn.write(enc.encode(head));
        let n = 0;
        while (n < sent.length) n += await conn.write(sent.subarray(n));
        await pacs.waitForLog(/ stored .*sop_class="CT Image Storage"/, 5000).catch(() => {});
        await new Promise((r) => setTimeout(r, 300));
        conn.close();
        await pacs.waitForLog(/STOW-RS request done.*request cut off/, 10000);
        const find = async (uid: string) =>
          (await get(`${root}/instances?SOPInstanceUID=${uid}`)).status;
        assert.equal(await find(done.sopInstanceUid), 200, "the finished part is stored");
        assert.equal(await find(cut.sopInstanceUid), 204, "the unfinished part is not");
        // Nothing of it comes back after a restart either (the journal holds no record of it).
        assert.equal(await pacs.stop(), 0);
        const again = await startMiniPacs({
          http: { enabled: true, port: 0, bind: "127.0.0.1" },
          storagePath: pacs.storage,
        });
        try {
          const url = `http://127.0.0.1:${again.httpPort}/dicom-web/instances?SOPInstanceUID=`;
          assert.equal((await get(url + cut.sopInstanceUid)).status, 204);
          assert.equal((await get(url + done.sopInstanceUid)).status, 200);
        } finally {
          await again.cleanup();
        }
      });
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "STOW-RS below min_free_mb is refused as C-STORE is (0xA700), nothing stored",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-stow-full-" });
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0, bind: "127.0.0.1" },
      storage: { min_free_mb: 1_000_000_000 },
    });
    try {
      const root = `http://127.0.0.1:${pacs.httpPort}/dicom-web`;
      const obj = await makeObject({ spec: spec("CT Image"), dir });
      const r = await stow(`${root}/studies`, [obj]);
      assert.equal(r.status, 409);
      assert.deepEqual(reasons(r.body), [0xa700]);
      assert.equal(
        (await get(`${root}/instances?SOPInstanceUID=${obj.sopInstanceUid}`)).status,
        204,
      );
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
