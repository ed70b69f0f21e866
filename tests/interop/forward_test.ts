// Forwarding to DCMTK storescp as the central archive: objects arrive with their bytes
// unchanged, routes filter by calling AE and modality, a destination that is down gets
// everything once it is back, a kill -9 of MiniPACS loses nothing that was acknowledged, a
// reload applies new routes, `minipacs forward` sends an older study, 1,000 objects queued
// while the destination is down drain once it is back.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "../helpers/peers.ts";
import { newStudyUid, writeSmallImage as writeObject } from "../helpers/small_image.ts";
import { hasTool, MAIN, type MiniPacs, run, startMiniPacs, storescuTo } from "../helpers/server.ts";

const dcmtk = ["storescp", "storescu", "echoscu"].every(hasTool);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** storescp writing a unique file per received object (+uf): duplicates stay countable. */
interface Archive {
  aeTitle: string;
  port: number;
  /** Every received object: SOP Instance UID -> dataset of the last copy, and copies. */
  received(): Promise<{ objects: Map<string, Uint8Array>; copies: number }>;
  stop(): Promise<void>;
}

async function startArchive(port: number, aeTitle = "CENTRAL"): Promise<Archive> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-archive-" });
  const child = new Deno.Command("storescp", {
    args: ["-aet", aeTitle, "-od", dir, "+uf", "+B", String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let up = false;
  for (let i = 0; i < 100 && !up; i++) { // bounded: about 10 s
    up = (await run("echoscu", ["-aec", aeTitle, "127.0.0.1", String(port)])).code === 0;
    if (!up) await delay(100);
  }
  if (!up) {
    await stop();
    throw new Error(`storescp did not answer on port ${port}`);
  }
  return {
    aeTitle,
    port,
    async received() {
      const objects = new Map<string, Uint8Array>();
      let copies = 0;
      for await (const e of Deno.readDir(dir)) {
        if (!e.isFile) continue;
        let bytes: Uint8Array;
        try {
          bytes = await Deno.readFile(`${dir}/${e.name}`);
          const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
          // A copy cut off by a kill is shorter than the one sent again after it.
          const dataset = bytes.subarray(datasetOffset);
          const seen = objects.get(meta.sopInstanceUid);
          if (!seen || seen.length < dataset.length) objects.set(meta.sopInstanceUid, dataset);
          copies++;
        } catch {
          continue; // still being written
        }
      }
      return { objects, copies };
    },
    stop,
  };
}

/** Waits (bounded) until the archive holds every one of `sops`. */
async function waitForAll(archive: Archive, sops: string[], timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await archive.received();
    if (sops.every((s) => r.objects.has(s))) return r;
    if (Date.now() > until) {
      const missing = sops.filter((s) => !r.objects.has(s)).length;
      throw new Error(`${missing} of ${sops.length} objects never reached the archive`);
    }
    await delay(100);
  }
}

/** Bounded argument lists: storescu takes the files of one call on one association. */
async function storescu(port: number, calling: string, files: string[]): Promise<void> {
  for (let i = 0; i < files.length; i += 500) {
    await storescuTo(port, files.slice(i, i + 500), calling);
  }
}

async function api(server: MiniPacs, path: string, init?: RequestInit) {
  const r = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, init);
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

function toml(archivePort: number, extra: string, retryMaxS = 1): string {
  return [
    "[forward]",
    `retry_max_s = ${retryMaxS}`,
    "[[known_ae]]",
    'ae_title = "CENTRAL"',
    'host = "127.0.0.1"',
    `port = ${archivePort}`,
    "max_associations = 1",
    extra,
  ].join("\n");
}

const HTTP = { enabled: true, bind: "127.0.0.1", port: 0 };

/** Folders, servers and archives of one forwarding test; whatever is set is cleaned up. */
interface ForwardTest {
  dir: string;
  archivePort: number;
  server?: MiniPacs;
  archive?: Archive;
}

/** A forwarding test against a DCMTK archive; the last server and archive are stopped after it. */
function forwardTest(name: string, fn: (t: ForwardTest) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !dcmtk,
    async fn() {
      const t: ForwardTest = {
        dir: await Deno.makeTempDir({ prefix: "minipacs-fwd-" }),
        archivePort: freePort(),
      };
      try {
        await fn(t);
      } finally {
        await t.server?.cleanup();
        await t.archive?.stop();
        await Deno.remove(t.dir, { recursive: true }).catch(() => {});
      }
    },
  });
}

forwardTest(
  "forward: routed objects reach storescp unchanged; calling AE and modality filter; " +
    "a reload adds a route; `minipacs forward` sends an older study",
  async (t) => {
    const { dir, archivePort } = t;
    const archive = t.archive = await startArchive(archivePort);
    const route = '[[route]]\ndestination = "CENTRAL"\ncalling_ae = ["CT1"]\nmodality = ["CT"]';
    t.server = await startMiniPacs({ http: HTTP, extraToml: toml(archivePort, route) });
    const study = newStudyUid();
    const ct1 = [];
    for (let i = 0; i < 12; i++) ct1.push(await writeObject(dir, "CT", study, 40_000));
    const mrFromCt1 = await writeObject(dir, "MR", newStudyUid());
    const ctFromOther = await writeObject(dir, "CT", newStudyUid());
    await storescu(t.server.port, "CT1", [...ct1.map((o) => o.path), mrFromCt1.path]);
    await storescu(t.server.port, "CT2", [ctFromOther.path]);
    const got = await waitForAll(archive, ct1.map((o) => o.sop));
    for (const o of ct1) {
      assert.deepEqual(got.objects.get(o.sop), o.dataset, "dataset bytes unchanged");
    }
    // The queue is empty; the other two never go.
    await delay(1500);
    const after = await archive.received();
    assert.equal(after.objects.has(mrFromCt1.sop), false, "MR is not routed");
    assert.equal(after.objects.has(ctFromOther.sop), false, "CT2 is not routed");
    const view = (await api(t.server, "/api/forward")).json();
    const central = view.destinations.find((d: { destination: string }) =>
      d.destination === "CENTRAL"
    );
    assert.equal(central.queued, 0);
    assert.equal(central.sent, 12);
    const metrics = (await api(t.server, "/metrics")).text;
    assert.match(metrics, /minipacs_forward_queue\{destination="CENTRAL"\} 0/);
    assert.match(metrics, /minipacs_forward_sent_total 12/);

    // A reload (SIGHUP) adds MR: the next MR object goes, the earlier one does not.
    const config = `${t.server.dir}/config.toml`;
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace('modality = ["CT"]', 'modality = ["CT", "MR"]'),
    );
    t.server.child.kill("SIGHUP");
    await t.server.waitForLog(/configuration reloaded.*route/);
    const mrLater = await writeObject(dir, "MR", newStudyUid());
    await storescu(t.server.port, "CT1", [mrLater.path]);
    await waitForAll(archive, [mrLater.sop]);
    assert.equal((await archive.received()).objects.has(mrFromCt1.sop), false);

    // The older MR study on request, from the command line while the server runs.
    const cli = await run(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "forward",
      "--config",
      config,
      "--study",
      mrFromCt1.study,
      "--to",
      "CENTRAL",
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /1 of 1 instance\(s\) .* queued for CENTRAL/);
    const r = await waitForAll(archive, [mrFromCt1.sop]);
    assert.deepEqual(r.objects.get(mrFromCt1.sop), mrFromCt1.dataset);
    // The study page's Forward button, for the CT2 object's study.
    const studyPage = await api(t.server, `/studies/${ctFromOther.study}`);
    assert.match(studyPage.text, /Forward study/);
    const posted = await api(t.server, `/studies/${ctFromOther.study}/forward`, {
      method: "POST",
      body: new URLSearchParams({ destination: "CENTRAL" }),
    });
    assert.equal(posted.status, 200);
    assert.match(posted.text, /1 of 1 instance\(s\) queued for CENTRAL/);
    await waitForAll(archive, [ctFromOther.sop]);
    // An unknown destination is refused.
    const bad = await run(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "forward",
      "--config",
      config,
      "--study",
      study,
      "--to",
      "NOWHERE",
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not the ae_title of a \[\[known_ae\]\]/);
  },
);

forwardTest(
  "forward: a destination down gets everything once it is back; warn then info; " +
    "the page and /api/forward show the queue and the last error",
  async (t) => {
    const { dir, archivePort } = t;
    t.server = await startMiniPacs({
      http: HTTP,
      extraToml: toml(archivePort, '[[route]]\ndestination = "CENTRAL"'),
    });
    const study = newStudyUid();
    const objects = [];
    for (let i = 0; i < 20; i++) objects.push(await writeObject(dir, "CT", study));
    await storescu(t.server.port, "CT1", objects.map((o) => o.path));
    await t.server.waitForLog(/WARN.*forwarding to CENTRAL is failing/);
    const view = (await api(t.server, "/api/forward")).json();
    assert.equal(view.destinations[0].queued, 20);
    assert.equal(view.destinations[0].failing, true);
    assert.match(view.destinations[0].lastError, /cannot be reached/);
    assert.ok(view.destinations[0].oldestQueuedAt);
    const page = await api(t.server, "/forward");
    assert.equal(page.status, 200);
    assert.match(page.text, /CENTRAL/);
    assert.match(page.text, /failing/);
    // Nothing is lost while it is down, and all of it goes once it is up.
    await delay(2500);
    t.archive = await startArchive(archivePort);
    const got = await waitForAll(t.archive, objects.map((o) => o.sop));
    for (const o of objects) assert.deepEqual(got.objects.get(o.sop), o.dataset);
    await t.server.waitForLog(/INFO.*forwarding to CENTRAL recovered/);
    const metrics = (await api(t.server, "/metrics")).text;
    assert.match(metrics, /minipacs_forward_queue\{destination="CENTRAL"\} 0/);
    assert.match(metrics, /minipacs_forward_failures_total [1-9]/);
  },
);

forwardTest(
  "forward: kill -9 with a queue waiting, and again mid-transfer: after the restarts " +
    "everything arrives, duplicates counted",
  async (t) => {
    const { dir, archivePort } = t;
    const extraToml = toml(archivePort, '[[route]]\ndestination = "CENTRAL"');
    t.server = await startMiniPacs({ extraToml });
    const storage = t.server.storage;
    const study = newStudyUid();
    const objects = [];
    for (let i = 0; i < 300; i++) objects.push(await writeObject(dir, "CT", study, 16_000));
    // The archive is down: every acknowledged object waits in the queue when killed.
    await storescu(t.server.port, "CT1", objects.map((o) => o.path));
    await t.server.stop("SIGKILL");
    t.archive = await startArchive(archivePort);
    t.server = await startMiniPacs({ extraToml, storagePath: storage });
    // Killed again while the queue drains.
    const until = Date.now() + 30_000;
    while ((await t.archive.received()).copies < 20 && Date.now() < until) await delay(5);
    await t.server.stop("SIGKILL");
    const before = (await t.archive.received()).objects.size;
    t.server = await startMiniPacs({ extraToml, storagePath: storage });
    const got = await waitForAll(t.archive, objects.map((o) => o.sop), 60_000);
    for (const o of objects) assert.deepEqual(got.objects.get(o.sop), o.dataset);
    const duplicates = got.copies - got.objects.size;
    console.log(
      `forward kill -9: ${got.objects.size} objects arrived (${before} before the second ` +
        `kill), ${duplicates} duplicate(s)`,
    );
    // At least once: the object in flight when MiniPACS was killed may be sent twice.
    assert.ok(duplicates <= 1, `${duplicates} duplicates`);
  },
);

forwardTest(
  "forward: 1,000 objects queued while the destination is down drain once it is back",
  async (t) => {
    const { dir, archivePort } = t;
    t.server = await startMiniPacs({
      http: HTTP,
      extraToml: toml(archivePort, '[[route]]\ndestination = "CENTRAL"'),
    });
    const study = newStudyUid();
    const objects = [];
    for (let i = 0; i < 1000; i++) objects.push(await writeObject(dir, "CT", study, 16_000));
    await storescu(t.server.port, "CT1", objects.map((o) => o.path));
    const view = (await api(t.server, "/api/forward")).json();
    assert.equal(view.destinations[0].queued, 1000);
    const started = performance.now();
    t.archive = await startArchive(archivePort);
    const got = await waitForAll(t.archive, objects.map((o) => o.sop), 120_000);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(got.objects.size, 1000);
    // Figures for the record, not timed assertions: as seen here (retry wait and polling
    // included) and as the server logged its associations.
    const sent = [
      ...t.server.logs().matchAll(/forwarded to CENTRAL .*objects=(\d+) seconds=([\d.]+)/g),
    ];
    const busy = sent.reduce((t, m) => t + Number(m[2]), 0);
    console.log(
      `forward drain: 1000 objects in ${seconds.toFixed(2)} s; ` +
        `${sent.length} association(s) busy ${busy.toFixed(2)} s`,
    );
  },
);

forwardTest(
  "forward: give_up_after_h moves objects to the failed list; retry puts them back",
  async (t) => {
    const { dir, archivePort } = t;
    t.server = await startMiniPacs({
      http: HTTP,
      // 0.0003 h: about a second.
      extraToml: toml(archivePort, '[[route]]\ndestination = "CENTRAL"').replace(
        "[forward]",
        "[forward]\ngive_up_after_h = 0.0003",
      ),
    });
    const study = newStudyUid();
    const objects = [];
    for (let i = 0; i < 3; i++) objects.push(await writeObject(dir, "CT", study));
    await storescu(t.server.port, "CT1", objects.map((o) => o.path));
    await t.server.waitForLog(/moved to failed/, 15_000);
    // Each moves once it is older than the limit at a failed attempt (bounded wait).
    let view = (await api(t.server, "/api/forward")).json();
    for (let i = 0; i < 100 && view.destinations[0].failed < 3; i++) {
      await delay(100);
      view = (await api(t.server, "/api/forward")).json();
    }
    assert.equal(view.destinations[0].failed, 3);
    assert.equal(view.destinations[0].queued, 0);
    assert.equal(view.failed.length, 3);
    assert.equal(view.failed[0].studyInstanceUid, study);
    const page = await api(t.server, "/forward");
    assert.match(page.text, new RegExp(objects[0].sop.replace(/\./g, "\\.")));
    t.archive = await startArchive(archivePort);
    const retry = await api(t.server, "/api/forward/CENTRAL/retry", { method: "POST" });
    assert.equal(retry.json().queued, 3);
    await waitForAll(t.archive, objects.map((o) => o.sop));
  },
);
