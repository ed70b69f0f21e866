// The OHIF viewer (npm @ohif/app, unmodified) served by MiniPACS at /viewer/ and driven by
// headless Chromium through playwright-core: the study list shows the stored studies, a CT
// study and a JPEG-compressed study open and draw an image. The viewer is fetched with
// `npm pack` into a cache folder (OHIF_DIST names an unpacked dist/ to use instead). With
// MINIPACS_UPDATE_SCREENSHOT=1 the CT screenshot is written to docs/ohif-viewer.png.
import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import { chromium } from "playwright-core";
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../helpers/corpus.ts";
import { hasTool, ROOT, run, startMiniPacs } from "../helpers/server.ts";

const OHIF_VERSION = "3.13.2";
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The viewer's dist/ folder: OHIF_DIST, a cached copy, or `npm pack` now; null if none. */
async function ohifDist(): Promise<string | null> {
  const given = Deno.env.get("OHIF_DIST");
  if (given) return exists(`${given}/index.html`) ? given : null;
  const cache = `${Deno.env.get("TMPDIR") ?? "/tmp"}/minipacs-ohif-${OHIF_VERSION}`;
  const dist = `${cache}/package/dist`;
  if (exists(`${dist}/index.html`)) return dist;
  if (!hasTool("npm") || !hasTool("tar")) return null;
  await Deno.mkdir(cache, { recursive: true });
  const pack = await new Deno.Command("npm", {
    args: ["pack", `@ohif/app@${OHIF_VERSION}`, "--silent"],
    cwd: cache,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output().catch(() => null);
  if (!pack?.success) return null;
  const tgz = new TextDecoder().decode(pack.stdout).trim().split("\n").at(-1)!;
  const untar = await run("tar", ["xzf", `${cache}/${tgz}`, "-C", cache]);
  await Deno.remove(`${cache}/${tgz}`).catch(() => {});
  return untar.code === 0 && exists(`${dist}/index.html`) ? dist : null;
}

const dist =
  exists(CHROMIUM) && hasTool("dump2dcm") && hasTool("dcmodify") && hasTool("dcmcjpeg") &&
    hasTool("storescu")
    ? await ohifDist()
    : null;
if (!exists(CHROMIUM)) console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install chromium)`);
else if (!dist) {
  console.log(`SKIP: the OHIF viewer (npm pack @ohif/app@${OHIF_VERSION}) is not available`);
}

const spec = (name: string) => CORPUS_CLASSES.find((c) => c.name === name)!;

/** Replaces a 128 x 128 CT's pixels with a disc phantom (slice i), with DCMTK's dcmodify. */
async function drawPhantom(path: string, slice: number, dir: string): Promise<void> {
  const n = 128;
  const pixels = new Uint8Array(n * n * 2);
  const dv = new DataView(pixels.buffer);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const r = Math.hypot(x - 64, y - 64);
      const inner = Math.hypot(x - 50 - slice * 3, y - 58);
      let v = r < 56 ? 1100 : 0;
      if (r < 56 && r > 50) v = 2600;
      if (inner < 14) v = 1800;
      if (Math.hypot(x - 82, y - 76) < 8) v = 400;
      dv.setUint16((y * n + x) * 2, v + ((x * 7 + y * 13) % 40), true);
    }
  }
  const raw = `${dir}/phantom-${slice}.raw`;
  await Deno.writeFile(raw, pixels);
  const r = await run("dcmodify", ["-nb", "-if", `(7fe0,0010)=${raw}`, path]);
  assert.equal(r.code, 0, r.stderr);
}

/** Mean and spread of the grey levels of a JPEG screenshot. */
function greyStats(bytes: Uint8Array): { mean: number; spread: number } {
  const image = jpeg.decode(bytes, { useTArray: true });
  let sum = 0, sum2 = 0;
  const n = image.width * image.height;
  for (let p = 0; p < n; p++) {
    const v = image.data[p * 4];
    sum += v;
    sum2 += v * v;
  }
  const mean = sum / n;
  return { mean, spread: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}

Deno.test({
  name: "OHIF, served at /viewer/, lists the stored studies and shows a CT and a JPEG image",
  ignore: dist === null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-viewer-" });
    const profile = await Deno.makeTempDir({ prefix: "minipacs-chromium-" });
    const pacs = await startMiniPacs({
      http: { enabled: true, port: 0, bind: "127.0.0.1" },
      extraToml: `[viewer]\nohif_path = ${JSON.stringify(dist)}\n`,
    });
    const base = `http://127.0.0.1:${pacs.httpPort}`;
    let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
    try {
      const study = newUid();
      const series = newUid();
      const ct: CorpusObject[] = [];
      for (let n = 1; n <= 5; n++) {
        ct.push(
          await makeObject({
            spec: spec("CT Image"),
            dir,
            studyInstanceUid: study,
            seriesInstanceUid: series,
            instanceNumber: n,
            patientId: "VIEW-CT",
            patientName: "Viewer^Ct",
            rows: 128,
            more: `(0020,0032) DS [0\\0\\${n * 2}]\n(0020,0037) DS [1\\0\\0\\0\\1\\0]\n` +
              `(0028,0030) DS [1\\1]\n(0018,0050) DS [2]\n(0028,1050) DS [1400]\n` +
              `(0028,1051) DS [3000]\n(0028,1052) DS [0]\n(0028,1053) DS [1]\n`,
          }),
        );
      }
      const us = await makeObject({
        spec: spec("Secondary Capture"),
        dir,
        patientId: "VIEW-JPEG",
        patientName: "Viewer^Jpeg",
        rows: 128,
      });
      const jpegPath = us.path.replace(/\.dcm$/, ".jpeg.dcm");
      assert.equal((await run("dcmcjpeg", ["+eb", "+un", us.path, jpegPath])).code, 0);
      for (const [i, c] of ct.entries()) await drawPhantom(c.path, i, dir);
      for (const [file, propose] of [...ct.map((c) => [c.path, "-xe"]), [jpegPath, "-xy"]]) {
        const r = await run("storescu", [
          propose,
          "-aec",
          "MINIPACS",
          "127.0.0.1",
          String(pacs.port),
          file,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1280, height: 800 },
      });
      const page = context.pages()[0] ?? await context.newPage();
      page.setDefaultTimeout(60_000);

      await t.step("the studies page links each study to the viewer", async () => {
        const html = await (await fetch(`${base}/studies`)).text();
        assert.ok(html.includes(`/viewer/viewer?StudyInstanceUIDs=${study}`), "link to the viewer");
      });
      await t.step("the study list shows the stored studies", async () => {
        await page.goto(`${base}/viewer/`);
        // OHIF lists names as "Family, Given".
        await page.getByText("Viewer, Ct").first().waitFor();
        await page.getByText("Viewer, Jpeg").first().waitFor();
      });
      const shows = async (uid: string, shot: string) => {
        await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${uid}`);
        const canvas = page.locator("canvas.cornerstone-canvas").first();
        await canvas.waitFor();
        // Bounded wait for the image to be drawn: the canvas stops being uniform.
        let stats = { mean: 0, spread: 0 };
        for (let i = 0; i < 60; i++) {
          stats = greyStats(await canvas.screenshot({ type: "jpeg", quality: 90 }));
          if (stats.spread > 10) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        // OHIF's first-visit tour covers the image: dismissed for the screenshot.
        const skip = page.getByText("Skip all");
        if (await skip.isVisible().catch(() => false)) await skip.click().catch(() => {});
        await page.screenshot({ path: `${dir}/${shot}` });
        return stats;
      };
      await t.step("a CT study opens and its image is drawn", async () => {
        const stats = await shows(study, "ohif-ct.png");
        assert.ok(stats.spread > 10, `canvas not blank: ${JSON.stringify(stats)}`);
        if (Deno.env.get("MINIPACS_UPDATE_SCREENSHOT")) {
          await Deno.copyFile(`${dir}/ohif-ct.png`, `${ROOT}docs/ohif-viewer.png`);
        }
      });
      await t.step("a JPEG-compressed study opens too", async () => {
        const stats = await shows(us.studyInstanceUid, "ohif-jpeg.png");
        assert.ok(stats.spread > 10, `canvas not blank: ${JSON.stringify(stats)}`);
      });
    } finally {
      await context?.close().catch(() => {});
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
