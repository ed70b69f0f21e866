// The server-rendered pages other than the studies: associations, peers with their C-ECHO
// button and result, the configuration, errors; every value escaped.
import assert from "node:assert/strict";
import { associationsPage, configPage, errorPage, peersPage } from "../../src/web/pages.ts";

const text = async (h: unknown) => String(await h);

Deno.test("the associations page lists each open association with its services and bytes", async () => {
  const now = Date.UTC(2024, 2, 15, 10, 0, 0);
  const out = await text(associationsPage("MINIPACS", [{
    id: "7",
    callingAeTitle: "CT1",
    calledAeTitle: "MINIPACS",
    remote: "10.0.0.5:4000",
    since: now - 90_000,
    services: { store: 12, echo: 1 },
    bytesReceived: 1536,
    bytesSent: 512,
  }], now));
  assert.match(out, /Open now: 1/);
  assert.match(out, /<td>CT1<\/td>/);
  assert.match(out, /store ×12, echo ×1/);
  assert.match(out, /1\.5 KB/);
  assert.match(out, /\(1m 30s\)/);
  assert.match(await text(associationsPage("MINIPACS", [], now)), /No association is open/);
});

Deno.test("the peers page has a C-ECHO button per known AE and shows the last result", async () => {
  const out = await text(peersPage("MINIPACS", [
    { aeTitle: "VIEWER 1", host: "10.0.0.9", port: 104, maxAssociations: 2 },
  ], {
    aeTitle: "VIEWER 1",
    host: "10.0.0.9",
    port: 104,
    ok: true,
    status: 0,
    message: "0x0000 success",
    roundTripMs: 1.234,
    setupMs: null,
  }));
  assert.match(out, /action="\/peers\/VIEWER%201\/echo"/);
  assert.match(out, /C-ECHO to VIEWER 1/);
  assert.match(out, /class="ok">Success: 0x0000 success/);
  assert.match(out, /round trip 1\.23 ms/);
  assert.ok(!out.includes("association set-up"), "no set-up time when none was measured");
  const failed = await text(peersPage("MINIPACS", [], {
    aeTitle: "GONE",
    host: "10.0.0.1",
    port: 104,
    ok: false,
    status: null,
    message: "connection refused",
    roundTripMs: null,
    setupMs: null,
  }));
  assert.match(failed, /class="bad">Failed: connection refused/);
  assert.match(failed, /No <code>\[\[known_ae\]\]<\/code> entry/);
});

Deno.test("the configuration page shows the TOML as text, escaped", async () => {
  const out = await text(configPage("MINIPACS", '[server]\nae_title = "<A&B>"\n'));
  assert.match(out, /<pre id="config">\[server\]\nae_title = &quot;&lt;A&amp;B&gt;&quot;/);
});

Deno.test("an error page shows the status and the message, escaped", async () => {
  const out = await text(errorPage("MINIPACS", 404, "no study <1.2.3>"));
  assert.match(out, /<h1>404<\/h1>/);
  assert.match(out, /no study &lt;1\.2\.3&gt;/);
});
