// Every route of the web app through app.request(): pages, API, metrics, health, auth,
// escaping, 404/405, same-origin POSTs, and no internals leaking to the client.
import assert from "node:assert/strict";
import { hashPassword } from "../../src/web/password.ts";
import { webFixture } from "./fixtures.ts";

const PEERS = `[[known_ae]]\nae_title = "VIEWER"\nhost = "127.0.0.1"\nport = 11113\n`;

Deno.test("GET / shows identity, counts and free space of the server", async () => {
  const f = await webFixture();
  try {
    f.add("1.9.1", { studyInstanceUid: "1.9", patientId: "P1" }, 2048);
    f.add("1.9.2", { studyInstanceUid: "1.9", patientId: "P1" }, 2048);
    f.add("1.8.1", { studyInstanceUid: "1.8", seriesInstanceUid: "1.8.0", patientId: "P2" });
    const r = await f.get("/");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /text\/html/);
    const body = await r.text();
    assert.match(body, /<dd>WEBPACS<\/dd>/);
    assert.match(body, /<dd>11112<\/dd>/);
    assert.match(body, /id="objects">3</);
    assert.match(body, /id="studies">2</);
    assert.match(body, /id="patients">2</);
    assert.match(body, />50 MB</); // free space
    assert.match(body, /<svg class="chart"/);
  } finally {
    await f.close();
  }
});

Deno.test("GET /api/status reports associations, stores per minute and events as JSON", async () => {
  const f = await webFixture();
  try {
    const t = f.stats.association("7", "127.0.0.1:5000");
    const info = {
      id: "7",
      callingAeTitle: "CT1",
      calledAeTitle: "WEBPACS",
      remote: "127.0.0.1:5000",
    };
    t.accepted!(info);
    f.stats.operation(info, "store", 0);
    f.stats.stored({ status: 0, bytes: 100, ms: 3, sopClassUid: "1.2.840.10008.5.1.4.1.1.2" });
    f.add("2.1");
    const r = await f.get("/api/status");
    assert.equal(r.status, 200);
    const s = await r.json();
    assert.equal(s.aeTitle, "WEBPACS");
    assert.equal(s.dicomPort, 11112);
    assert.equal(s.httpPort, 8080);
    assert.equal(s.associations.open, 1);
    assert.equal(s.associations.today.accepted, 1);
    assert.equal(s.storage.instances, 1);
    assert.equal(s.storage.minFreeBytes, 10 * 1024 * 1024);
    assert.equal(s.storage.belowMinFree, false);
    assert.equal(s.storesPerMinute.length, 60);
    assert.equal(s.storesPerMinute.at(-1), 1);
    assert.equal(s.events[0].kind, "store");
    assert.equal(s.events[0].peer, "CT1@127.0.0.1:5000");
  } finally {
    await f.close();
  }
});

Deno.test("GET /associations and /api/associations list the open associations", async () => {
  const f = await webFixture();
  try {
    const t = f.stats.association("3", "10.0.0.7:4100");
    const info = { id: "3", callingAeTitle: "MR<1>", calledAeTitle: "WEBPACS", remote: "x" };
    t.accepted!(info);
    t.bytes!(5000, 200);
    f.stats.operation(info, "store", 0);
    f.stats.operation(info, "store", 0);
    const page = await (await f.get("/associations")).text();
    assert.match(page, /MR&lt;1&gt;/);
    assert.match(page, /10\.0\.0\.7:4100/);
    assert.match(page, /store ×2/);
    assert.match(page, /4\.9 KB/);
    const api = await (await f.get("/api/associations")).json();
    assert.equal(api.associations.length, 1);
    assert.equal(api.associations[0].bytesReceived, 5000);
    assert.deepEqual(api.associations[0].services, { store: 2 });
    t.ended("released");
    const after = await (await f.get("/api/associations")).json();
    assert.equal(after.associations.length, 0);
  } finally {
    await f.close();
  }
});

Deno.test("a <script> Patient's Name is shown escaped on every page and as data in JSON", async () => {
  const f = await webFixture();
  try {
    const evil = `<script>alert(1)</script>^"Bob'&`;
    f.add("3.1", {
      patientName: evil,
      studyInstanceUid: "3.9",
      studyDescription: "<img src=x onerror=alert(2)>",
    });
    for (const path of ["/studies", "/studies/3.9", "/studies?name=%3Cscript"]) {
      const body = await (await f.get(path)).text();
      assert.ok(!body.includes("<script>"), path);
      assert.ok(!body.includes("<img src=x"), path);
      assert.match(body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, path);
    }
    const api = await (await f.get("/api/studies/3.9")).json();
    assert.equal(api.study.patientName, evil);
  } finally {
    await f.close();
  }
});

Deno.test("GET /studies searches and pages; /studies/{uid} lists series and counts", async () => {
  const f = await webFixture();
  try {
    f.add("4.1.1", {
      studyInstanceUid: "4.1",
      seriesInstanceUid: "4.1.0",
      patientName: "Doe^Jane",
    });
    f.add("4.1.2", {
      studyInstanceUid: "4.1",
      seriesInstanceUid: "4.1.5",
      seriesNumber: "5",
      modality: "SR",
      patientName: "Doe^Jane",
    });
    f.add("4.2.1", {
      studyInstanceUid: "4.2",
      seriesInstanceUid: "4.2.0",
      patientId: "P9",
      patientName: "Roe^Richard",
      studyDate: "20230101",
    });
    const list = await (await f.get("/studies?name=doe")).text();
    assert.match(list, /Doe, Jane/);
    assert.ok(!list.includes("Roe, Richard"));
    const one = await (await f.get("/studies/4.1")).text();
    assert.match(one, /id="patient-name">Doe, Jane</);
    assert.match(one, /<td>SR<\/td>/);
    assert.match(one, /2 in 2 series/);
    const api = await (await f.get("/api/studies?modality=sr")).json();
    assert.deepEqual(api.studies.map((s: { studyInstanceUid: string }) => s.studyInstanceUid), [
      "4.1",
    ]);
    const detail = await (await f.get("/api/studies/4.1")).json();
    assert.deepEqual(detail.series.map((s: { instances: number }) => s.instances), [1, 1]);
    const bad = await f.get("/api/studies?from=2024-1-5");
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /DA/);
    assert.equal((await f.get("/studies?from=notadate")).status, 400);
    assert.equal((await f.get("/studies/9.9.9")).status, 404);
    assert.equal((await f.get("/api/studies/9.9.9")).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("GET /peers lists [[known_ae]]; POST runs a C-ECHO and shows the round trip", async () => {
  const f = await webFixture({ toml: PEERS });
  try {
    const list = await (await f.get("/peers")).text();
    assert.match(list, /VIEWER/);
    assert.match(list, /<form method="post"\s+action="\/peers\/VIEWER\/echo">/);
    const r = await f.get("/peers/VIEWER/echo", {
      method: "POST",
      headers: { Origin: "http://localhost", "Sec-Fetch-Site": "same-origin" },
    });
    assert.equal(r.status, 200);
    const body = await r.text();
    assert.match(body, /id="echo-result"/);
    assert.match(body, /round trip 1\.25 ms/);
    const api = await f.get("/api/peers/VIEWER/echo", { method: "POST" });
    assert.equal(api.status, 200);
    const json = await api.json();
    assert.equal(json.ok, true);
    assert.equal(json.roundTripMs, 1.25);
    assert.deepEqual(f.echoes, ["VIEWER", "VIEWER"]);
    assert.equal(f.stats.recentEvents(1)[0].kind, "echo-scu");
    assert.equal((await f.get("/api/peers/NOBODY/echo", { method: "POST" })).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("a POST from another site is refused before any C-ECHO is sent", async () => {
  const f = await webFixture({ toml: PEERS });
  try {
    const cross = await f.get("/peers/VIEWER/echo", {
      method: "POST",
      headers: { Origin: "http://evil.example", "Sec-Fetch-Site": "cross-site" },
    });
    assert.equal(cross.status, 403);
    const sameSite = await f.get("/api/peers/VIEWER/echo", {
      method: "POST",
      headers: { "Sec-Fetch-Site": "same-site" },
    });
    assert.equal(sameSite.status, 403);
    const sandboxed = await f.get("/api/peers/VIEWER/echo", {
      method: "POST",
      headers: { Origin: "null" },
    });
    assert.equal(sandboxed.status, 403);
    assert.deepEqual(f.echoes, []);
  } finally {
    await f.close();
  }
});

Deno.test("GET /config shows the effective configuration with password hashes masked", async () => {
  const hash = await hashPassword("secret", 1000);
  const f = await webFixture({
    http: `[[http.users]]\nname = "admin"\npassword_hash = "${hash}"\n`,
    toml: PEERS,
  });
  try {
    const r = await f.get("/config", {
      headers: { Authorization: `Basic ${btoa("admin:secret")}` },
    });
    assert.equal(r.status, 200);
    const body = await r.text();
    assert.match(body, /ae_title = &quot;WEBPACS&quot;/);
    assert.match(body, /password_hash = &quot;\*\*\*&quot;/);
    assert.ok(!body.includes(hash.split("$")[3]));
  } finally {
    await f.close();
  }
});

Deno.test("with users, every route but /healthz needs the right password", async () => {
  const hash = await hashPassword("s3cret", 1000);
  const f = await webFixture({
    http: `[[http.users]]\nname = "admin"\npassword_hash = "${hash}"\n`,
  });
  try {
    const paths = [
      "/",
      "/associations",
      "/studies",
      "/peers",
      "/config",
      "/api/status",
      "/metrics",
    ];
    for (const path of paths) {
      const r = await f.get(path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic realm="MiniPACS"/);
      await r.body?.cancel();
    }
    const wrong = await f.get("/", { headers: { Authorization: `Basic ${btoa("admin:nope")}` } });
    assert.equal(wrong.status, 401);
    const unknown = await f.get("/", { headers: { Authorization: `Basic ${btoa("eve:s3cret")}` } });
    assert.equal(unknown.status, 401);
    const garbage = await f.get("/", { headers: { Authorization: "Basic ***" } });
    assert.equal(garbage.status, 401);
    const ok = await f.get("/", { headers: { Authorization: `Basic ${btoa("admin:s3cret")}` } });
    assert.equal(ok.status, 200);
    // Cached: the second request is answered the same.
    const again = await f.get("/api/status", {
      headers: { Authorization: `Basic ${btoa("admin:s3cret")}` },
    });
    assert.equal(again.status, 200);
    assert.equal((await f.get("/healthz")).status, 200);
  } finally {
    await f.close();
  }
});

Deno.test("metrics_public = true serves /metrics without a password, nothing else", async () => {
  const hash = await hashPassword("pw", 1000);
  const f = await webFixture({
    http: `metrics_public = true\n[[http.users]]\nname = "a"\npassword_hash = "${hash}"\n`,
  });
  try {
    assert.equal((await f.get("/metrics")).status, 200);
    assert.equal((await f.get("/api/status")).status, 401);
  } finally {
    await f.close();
  }
});

Deno.test("without users, a request naming another host is refused (DNS rebinding)", async () => {
  const f = await webFixture();
  try {
    const r = await f.get("/api/status", { headers: { Host: "evil.example:8080" } });
    assert.equal(r.status, 421);
    const local = await f.get("/api/status", { headers: { Host: "127.0.0.1:8080" } });
    assert.equal(local.status, 200);
  } finally {
    await f.close();
  }
});

Deno.test("GET /healthz is 200 when healthy, 503 naming the check when disk is low", async () => {
  const f = await webFixture();
  try {
    const ok = await f.get("/healthz");
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), {
      status: "ok",
      checks: { process: "ok", index: "ok", storage: "ok", disk: "ok" },
      journal: { pending_objects: 0, pending_bytes: 0, disk_full: false },
    });
    f.free.bytes = 1024;
    const low = await f.get("/healthz");
    assert.equal(low.status, 503);
    const body = await low.json();
    assert.equal(body.status, "fail");
    assert.equal(body.checks.disk, "free space below storage.min_free_mb");
    assert.equal(body.checks.index, "ok");
    f.free.bytes = 50 * 1024 * 1024;
    await Deno.remove(`${f.root}/tmp`);
    await Deno.writeTextFile(`${f.root}/tmp`, "not a folder");
    const unwritable = await (await f.get("/healthz")).json();
    assert.equal(unwritable.checks.storage, "storage not writable");
  } finally {
    await f.close();
  }
});

Deno.test("GET /healthz is 503 when the index cannot be read", async () => {
  const f = await webFixture({
    deps: {
      storage: {
        root: "/nonexistent-minipacs",
        openReader() {
          throw new Error("unable to open database file /secret/path");
        },
        freeBytes: () => Promise.resolve(1e12),
      },
    },
  });
  try {
    const r = await f.get("/healthz");
    assert.equal(r.status, 503);
    const body = await r.json();
    assert.equal(body.checks.index, "index not readable");
    assert.equal(body.checks.storage, "storage not writable");
    assert.ok(!JSON.stringify(body).includes("/secret/path"));
  } finally {
    await f.close();
  }
});

Deno.test("a failing page answers 500 without a stack trace or the error text", async () => {
  const f = await webFixture({
    deps: {
      storage: {
        root: "/x",
        openReader() {
          throw new Error("SECRET internal detail");
        },
        freeBytes: () => Promise.resolve(1),
      },
    },
  });
  try {
    for (const path of ["/", "/api/status"]) {
      const r = await f.get(path);
      assert.equal(r.status, 500, path);
      const body = await r.text();
      assert.ok(!body.includes("SECRET"), path);
      assert.ok(!/at .*\.ts:\d+/.test(body), path);
    }
    assert.ok(f.logger.lines.some((l) => String(l.fields?.error).includes("SECRET")));
  } finally {
    await f.close();
  }
});

Deno.test("unknown paths are 404; a wrong method on a known path is 405 with Allow", async () => {
  const f = await webFixture({ toml: PEERS });
  try {
    const page = await f.get("/nope");
    assert.equal(page.status, 404);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    await page.body?.cancel();
    const api = await f.get("/api/nope");
    assert.equal(api.status, 404);
    assert.deepEqual(await api.json(), { error: "not found" });
    for (
      const [method, path, allow] of [
        ["POST", "/", "GET, HEAD"],
        ["DELETE", "/api/status", "GET, HEAD"],
        ["PUT", "/metrics", "GET, HEAD"],
        ["GET", "/api/peers/VIEWER/echo", "POST"],
        ["GET", "/peers/VIEWER/echo", "POST"],
      ]
    ) {
      const r = await f.get(path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), allow);
      await r.body?.cancel();
    }
    const head = await f.get("/api/status", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.deepEqual(f.echoes, []);
  } finally {
    await f.close();
  }
});

Deno.test("pages carry a strict Content-Security-Policy and are not cached", async () => {
  const f = await webFixture();
  try {
    const r = await f.get("/");
    await r.body?.cancel();
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("cache-control"), "no-store");
    const css = await f.get("/style.css");
    assert.match(css.headers.get("content-type") ?? "", /text\/css/);
    assert.match(await css.text(), /font/);
  } finally {
    await f.close();
  }
});

Deno.test("the dashboard and /api/status show the journal reserve apart from the images", async () => {
  const f = await webFixture({ journalReserveBytes: 512 * 1024 * 1024 });
  try {
    f.add("3.1", {}, 4096);
    const s = await (await f.get("/api/status")).json();
    assert.equal(s.storage.journalReserveBytes, 512 * 1024 * 1024);
    assert.equal(s.storage.bytes, 4096);
    const page = await (await f.get("/")).text();
    assert.match(page, /<dt>Journal reserve<\/dt>\s*<dd id="journal-reserve">512 MB<\/dd>/);
    assert.match(page, /not images; counted as free/);
  } finally {
    await f.close();
  }
  const none = await webFixture();
  try {
    assert.doesNotMatch(await (await none.get("/")).text(), /Journal reserve/);
  } finally {
    await none.close();
  }
});
