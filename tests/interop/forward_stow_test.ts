// Forwarding of what STOW-RS stored: an object sent to /dicom-web/studies that matches a
// [[route]] reaches a DCMTK storescp destination with its bytes unchanged, exactly as a
// C-STORE'd one does. STOW-RS objects have the calling AE "STOW-RS" for routes' calling_ae.
import assert from "node:assert/strict";
import { newStudyUid, writeSmallImage } from "../helpers/small_image.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { startStorescp, type Storescp } from "../helpers/storescp.ts";

const dcmtk = ["storescp", "storescu", "echoscu"].every(hasTool);
if (!dcmtk) console.log("SKIP: storescp/storescu/echoscu (dcmtk) are not installed");
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stow(server: MiniPacs, files: string[]): Promise<number> {
  const boundary = "forward-stow-boundary";
  const enc = new TextEncoder();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (const f of files) {
    parts.push(enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    parts.push(await Deno.readFile(f), enc.encode("\r\n"));
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  const r = await fetch(`http://127.0.0.1:${server.httpPort}/dicom-web/studies`, {
    method: "POST",
    headers: {
      "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
    },
    body: new Blob(parts),
  });
  await r.body?.cancel();
  return r.status;
}

Deno.test({
  name: "forward: a STOW-RS object matching a route reaches storescp unchanged",
  ignore: !dcmtk,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-fwd-stow-" });
    let archive: Storescp | undefined;
    let server: MiniPacs | undefined;
    try {
      archive = await startStorescp("CENTRAL");
      server = await startMiniPacs({
        http: { enabled: true, bind: "127.0.0.1", port: 0 },
        extraToml: [
          "[forward]",
          "retry_max_s = 1",
          "[[known_ae]]",
          'ae_title = "CENTRAL"',
          'host = "127.0.0.1"',
          `port = ${archive.port}`,
          "[[route]]",
          'destination = "CENTRAL"',
          'calling_ae = ["STOW-RS"]',
          'modality = ["CT"]',
        ].join("\n"),
      });
      const ct = await writeSmallImage(dir, "CT", newStudyUid(), 20_000);
      const mr = await writeSmallImage(dir, "MR", newStudyUid());
      const byDimse = await writeSmallImage(dir, "CT", newStudyUid());
      assert.equal(await stow(server, [ct.path, mr.path]), 200);
      const st = await run("storescu", [
        "-aet",
        "CT1",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(server.port),
        byDimse.path,
      ]);
      assert.equal(st.code, 0, st.stderr);

      let got = await archive.received();
      for (let i = 0; i < 100 && !got.has(ct.sop); i++) { // bounded: about 10 s
        await delay(100);
        got = await archive.received();
      }
      assert.ok(got.has(ct.sop), "the STOW'd CT object never reached the destination");
      assert.deepEqual(got.get(ct.sop)!.dataset, ct.dataset, "dataset bytes unchanged");
      await delay(1500);
      got = await archive.received();
      assert.equal(got.has(mr.sop), false, "MR is not routed");
      assert.equal(got.has(byDimse.sop), false, "a C-STORE from CT1 is not routed");
      const view = await (await fetch(`http://127.0.0.1:${server.httpPort}/api/forward`)).json();
      const central = view.destinations.find((d: { destination: string }) =>
        d.destination === "CENTRAL"
      );
      assert.equal(central.sent, 1);
      assert.equal(central.queued, 0);
    } finally {
      await server?.cleanup();
      await archive?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
