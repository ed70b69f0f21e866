// Headless Chromium (playwright-core) clicks through the pages as an administrator would:
// search, open a study, see its thumbnails, open an instance's tag dump and preview, download
// the study as a ZIP (its files equal what was stored), send it to a storescp (the files
// arrive), delete it (gone from the page, from C-FIND and from disk). A viewer sees neither
// send nor delete, and is refused them.
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { writeDemo } from "../../src/cli/demo.ts";
import { hashPassword } from "../../src/web/password.ts";
import { datasetOf, readPart10Dir } from "../helpers/part10_files.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { minipacs, startStoreScp, type StoreScp } from "../cli/cli.ts";

const CHROMIUM = "/usr/bin/chromium";
const ready = (() => {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install chromium); ignored`);
    return false;
  }
  return ["storescu", "storescp", "unzip"].every(hasTool);
})();

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...(await filesUnder(`${dir}/${e.name}`)));
    else out.push(`${dir}/${e.name}`);
  }
  return out;
}

Deno.test({
  name:
    "Chromium clicks through: search, study, thumbnails, tags, ZIP, send, delete; a viewer cannot",
  ignore: !ready,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-click-" });
    let pacs: MiniPacs | undefined;
    let scp: StoreScp | undefined;
    let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
    try {
      const demo = await writeDemo(`${dir}/demo`, {
        implementationClassUid: "1.2.3.4",
        implementationVersionName: "DEMO",
      });
      const hans = demo.filter((f) => f.patientName === "MÜLLER^HANS");
      const study = hans[0].studyInstanceUid;
      scp = await startStoreScp("STORESCP");
      const [adminHash, viewerHash] = await Promise.all([
        hashPassword("admin-pw", 1000),
        hashPassword("viewer-pw", 1000),
      ]);
      pacs = await startMiniPacs({
        http: { enabled: true, bind: "127.0.0.1", port: 0 },
        extraToml: [
          `[[known_ae]]\nae_title = "STORESCP"\nhost = "127.0.0.1"\nport = ${scp.port}\n`,
          `[[http.users]]\nname = "admin"\npassword_hash = "${adminHash}"\nrole = "admin"\n`,
          `[[http.users]]\nname = "viewer"\npassword_hash = "${viewerHash}"\nrole = "viewer"\n`,
          `[audit]\npath = ${JSON.stringify(`${dir}/audit.jsonl`)}\n`,
        ].join("\n"),
      });
      const stored = await run("storescu", [
        "-aec",
        "MINIPACS",
        "+sd",
        "+r",
        "127.0.0.1",
        String(pacs.port),
        `${dir}/demo`,
      ]);
      assert.equal(stored.code, 0, stored.stderr);
      const base = `http://127.0.0.1:${pacs.httpPort}`;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      const admin = await browser.newContext({
        httpCredentials: { username: "admin", password: "admin-pw" },
        acceptDownloads: true,
      });
      const page = await admin.newPage();

      await t.step(
        "search 'hans' finds MÜLLER^HANS; the study shows a thumbnail per series",
        async () => {
          await page.goto(`${base}/studies`);
          await page.fill('input[name="name"]', "hans");
          await page.click('button[type="submit"]');
          const rows = page.locator("table tbody tr");
          assert.equal(await rows.count(), 1);
          assert.match(await rows.first().innerText(), /MÜLLER, HANS/);
          await page.click(`a[href="/studies/${study}"]`);
          await page.waitForSelector("#series");
          // Images load after the page: wait (bounded) until each has finished.
          await imagesLoaded(page);
          const thumbs = page.locator("img.thumb");
          assert.equal(await thumbs.count(), 2);
          // Each thumbnail is a rendered PNG, 128 wide (the demo images are 128 x 128).
          const widths = await thumbs.evaluateAll((imgs) =>
            imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth)
          );
          assert.deepEqual(widths, [128, 128]);
        },
      );

      await t.step(
        "series, then an instance: the tag dump and the preview with presets",
        async () => {
          await page.click("#series tbody tr:first-child td:nth-child(2) a");
          await page.waitForSelector("#instances");
          assert.equal(await page.locator("#instances tbody tr").count(), 3);
          await page.click("#instances tbody tr:first-child td:nth-child(2) a");
          await page.waitForSelector("#tag-dump");
          const dump = await page.innerText("#tag-dump");
          assert.match(dump, /\(0010,0010\)\s+PN\s+PatientName\s+\[MÜLLER\^HANS\]/);
          assert.match(
            await page.innerText("#pixel-data"),
            /^native, 128 x 128, 16 bits allocated/,
          );
          await page.click('#presets a:has-text("Full range")');
          await page.waitForSelector("#preview-image");
          await imagesLoaded(page);
          assert.match(page.url(), /window=full/);
          const w = await page.locator("#preview-image").evaluate((i) =>
            (i as unknown as { naturalWidth: number }).naturalWidth
          );
          assert.equal(w, 128);
        },
      );

      await t.step("Download ZIP: its files equal what was stored", async () => {
        await page.goto(`${base}/studies/${study}`);
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.click("#download"),
        ]);
        const zip = `${dir}/study.zip`;
        await download.saveAs(zip);
        assert.equal((await run("unzip", ["-q", zip, "-d", `${dir}/unzipped`])).code, 0);
        // The file-set: a DICOMDIR at the root, the files under DICOM/.
        assert.ok((await Deno.stat(`${dir}/unzipped/DICOMDIR`)).isFile);
        const got = new Map<string, Uint8Array>();
        for (const f of await filesUnder(`${dir}/unzipped/DICOM`)) {
          const folder = f.slice(0, f.lastIndexOf("/"));
          for (const [uid, p] of await readPart10Dir(folder)) got.set(uid, p.dataset);
        }
        assert.deepEqual([...got.keys()].sort(), hans.map((h) => h.sopInstanceUid).sort());
        for (const h of hans) assert.deepEqual(got.get(h.sopInstanceUid), await datasetOf(h.path));
      });

      await t.step(
        "Send to STORESCP: confirmation, progress page, result, files arrive",
        async () => {
          await page.selectOption("#destination", "STORESCP");
          await page.click("#send");
          await page.waitForSelector("#confirm");
          assert.match(
            await page.innerText("#confirm"),
            /Send this study \(6 instances\) to STORESCP/,
          );
          await page.click("#confirm-button");
          // The send's own page, reloaded every second while it runs, then its result.
          await page.waitForURL(/\/sends\/[0-9a-f-]+$/);
          await page.locator('#send-job[data-state="completed"]').waitFor({ timeout: 60_000 });
          assert.equal(await page.innerText("#result-message"), "6 of 6 sent.");
          assert.equal(
            await page.innerText("#send-destination"),
            `STORESCP at 127.0.0.1:${scp!.port}`,
          );
          assert.equal(await page.getAttribute("#send-progress", "value"), "6");
          await page.goto(`${base}/sends`);
          assert.match(
            await page.innerText("#sends tbody"),
            /study.*STORESCP.*admin\s+Sent\s+6 of 6 sent/s,
          );
          const arrived = await readPart10Dir(scp!.dir);
          for (const h of hans) {
            assert.deepEqual(arrived.get(h.sopInstanceUid)?.dataset, await datasetOf(h.path));
          }
        },
      );

      await t.step("a viewer sees no send or delete, and is refused them", async () => {
        const viewer = await browser!.newContext({
          httpCredentials: { username: "viewer", password: "viewer-pw" },
        });
        const vp = await viewer.newPage();
        await vp.goto(`${base}/studies/${study}`);
        assert.equal(await vp.locator("#download").count(), 1);
        assert.equal(await vp.locator("#send").count(), 0);
        assert.equal(await vp.locator("#delete").count(), 0);
        const refused = await vp.goto(`${base}/studies/${study}/delete`);
        assert.equal(refused?.status(), 403);
        const api = await vp.request.delete(`${base}/api/studies/${study}`);
        assert.equal(api.status(), 403);
        await viewer.close();
      });

      await t.step(
        "Delete: confirmation, result; gone from the page, C-FIND and disk",
        async () => {
          await page.goto(`${base}/studies/${study}`);
          await page.click("#delete");
          await page.waitForSelector("#confirm");
          assert.match(await page.innerText("#confirm"), /Delete this study \(6 instances\)/);
          await page.click("#confirm-button");
          await page.waitForSelector("#result-message");
          assert.match(await page.innerText("#result-message"), /^Deleted 6 instances/);
          await page.goto(`${base}/studies?name=hans`);
          assert.equal(await page.locator("table tbody tr").count(), 0);
          const gone = await page.goto(`${base}/studies/${study}`);
          assert.equal(gone?.status(), 404);
          const find = await minipacs([
            "find",
            `MINIPACS@127.0.0.1:${pacs!.port}`,
            "-k",
            `StudyInstanceUID=${study}`,
            "--json",
          ]);
          assert.deepEqual(JSON.parse(find.stdout), []);
          await assert.rejects(() => Deno.stat(`${pacs!.storage}/${study}`), Deno.errors.NotFound);
          // The page's send and delete are in the audit trail under the admin's name.
          const audit = (await Deno.readTextFile(`${dir}/audit.jsonl`)).trim().split("\n")
            .map((l) => JSON.parse(l)).filter((l) =>
              l.StudyInstanceUID === study && l.UserID === "admin"
            );
          assert.deepEqual(audit.map((l) => [l.EventID, l.EventActionCode, l.NumberOfInstances]), [
            ["DICOM Instances Transferred", "R", 6],
            ["DICOM Study Deleted", "D", 6],
          ]);
        },
      );
      await admin.close();
    } finally {
      await browser?.close();
      await pacs?.cleanup();
      await scp?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Waits (bounded) until every image of the page has finished loading. The page's CSP
 * forbids eval, so the check is a function evaluated from here, not a string predicate. */
async function imagesLoaded(page: Page): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const done = await page.evaluate(() =>
      Array.from(
        (globalThis as unknown as { document: { images: { complete: boolean }[] } })
          .document.images,
      ).every((i) => i.complete)
    );
    if (done) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("images did not finish loading within 30 s");
}
