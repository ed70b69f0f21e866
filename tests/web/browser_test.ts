// A real browser on the status pages: the server runs, storescu stores a few objects, and
// headless Chromium loads the dashboard, the studies list and a study page. It also takes the
// screenshot the README shows (written to docs/ when MINIPACS_UPDATE_SCREENSHOT=1).
import assert from "node:assert/strict";
import { CORPUS_CLASSES, makeObject } from "../helpers/corpus.ts";
import { hasTool, ROOT, run, startMiniPacs } from "../helpers/server.ts";

const ready = hasTool("chromium") && hasTool("storescu") && hasTool("dump2dcm");
const SCREENSHOT = `${ROOT}docs/status-page.png`;

/** Runs headless Chromium once on `url` with the given action flags; returns stdout. */
async function chromium(url: string, action: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "minipacs-chromium-" });
  try {
    const out = await new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        ...action,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (out.code !== 0) {
      throw new Error(`chromium exit ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Uint8Array): [number, number] {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...bytes.subarray(0, 8)], signature, "not a PNG");
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return [view.getUint32(16), view.getUint32(20)];
}

Deno.test({
  name: "headless Chromium shows the stored objects on the dashboard and the studies page",
  ignore: !ready,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-browser-" });
    const pacs = await startMiniPacs({ http: { enabled: true, port: 0 } });
    try {
      const ct = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
      const mr = CORPUS_CLASSES.find((c) => c.modality === "MR")!;
      const first = await makeObject({
        spec: ct,
        dir,
        patientId: "PAT-1",
        patientName: "Doe^Jane",
      });
      const files = [
        first,
        await makeObject({
          spec: ct,
          dir,
          patientId: "PAT-1",
          patientName: "Doe^Jane",
          studyInstanceUid: first.studyInstanceUid,
          seriesInstanceUid: first.seriesInstanceUid,
        }),
        await makeObject({
          spec: mr,
          dir,
          patientId: "PAT-2",
          patientName: "<script>alert(1)</script>^Eve",
        }),
      ];
      const sent = await run("storescu", [
        "-aet",
        "MODALITY",
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...files.map((f) => f.path),
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const base = `http://127.0.0.1:${pacs.httpPort}`;

      const dashboard = await chromium(`${base}/`, ["--dump-dom"]);
      assert.match(dashboard, /id="objects">3</);
      assert.match(dashboard, /id="studies">2</);
      assert.match(dashboard, /id="patients">2</);
      assert.match(dashboard, /id="today-accepted">1</);
      assert.match(dashboard, /MODALITY@127\.0\.0\.1/);
      assert.match(dashboard, /C-STORE CT Image Storage: 0x0000 success/);
      assert.match(dashboard, /3 objects stored in the last hour/);

      const studies = await chromium(`${base}/studies`, ["--dump-dom"]);
      assert.match(studies, /Doe, Jane/);
      assert.match(studies, new RegExp(`href="/studies/${first.studyInstanceUid}"`));
      // The name arrived as text: no script element was made of it.
      assert.match(studies, /&lt;script&gt;alert\(1\)&lt;\/script&gt;, Eve/);
      assert.ok(!studies.includes("<script>"), "a <script> element reached the DOM");

      const found = await chromium(`${base}/studies?name=doe&modality=CT`, ["--dump-dom"]);
      assert.match(found, /Doe, Jane/);
      assert.ok(!found.includes("Eve"));

      const study = await chromium(`${base}/studies/${first.studyInstanceUid}`, ["--dump-dom"]);
      assert.match(study, /id="patient-name">Doe, Jane</);
      assert.match(study, /2 in 1 series/);

      const shot = Deno.env.get("MINIPACS_UPDATE_SCREENSHOT") ? SCREENSHOT : `${dir}/shot.png`;
      await chromium(`${base}/`, [`--screenshot=${shot}`, "--window-size=1200,900"]);
      const png = await Deno.readFile(shot);
      assert.deepEqual(pngSize(png), [1200, 900]);
      assert.ok(png.length > 10_000, "the screenshot is blank");
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
