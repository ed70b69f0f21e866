// parseConfig(): config.toml text to a typed Config, every refusal one line naming the file,
// the line and the key.
import assert from "node:assert/strict";
import { refused } from "./refused.ts";
import { formatConfig, parseConfig } from "../../src/config.ts";

Deno.test("parseConfig() reads every section into camelCase fields", () => {
  const config = parseConfig(
    `
[server]
ae_title = "PACS1"
port = 11112
accept = "known"
check_called_ae = false
[storage]
path = "/var/lib/minipacs"
sop_classes = ["1.2.840.10008.5.1.4.1.1.2"]
duplicates = "reject"
min_free_mb = 0
durability = "none"
journal_reserve_mb = 64
retention_days = 365
compression = "jpeg-ls"
[query]
case_insensitive_pn = false
max_results = 500
[http]
enabled = false
port = 0
[[http.users]]
name = "admin"
password_hash = "scrypt$abc"
[log]
level = "debug"
format = "json"
[[known_ae]]
ae_title = "CT1"
host = "10.0.0.5"
port = 104
[[known_ae]]
ae_title = "WS"
host = "ws.local"
port = 11112
max_associations = 8
`,
    "x.toml",
  );
  assert.equal(config.server.aeTitle, "PACS1");
  assert.equal(config.server.port, 11112);
  assert.equal(config.server.accept, "known");
  assert.equal(config.server.checkCalledAe, false);
  assert.equal(config.server.maxPduLength, 16384, "unset keys keep their default");
  assert.deepEqual(config.storage, {
    path: "/var/lib/minipacs",
    sopClasses: ["1.2.840.10008.5.1.4.1.1.2"],
    duplicates: "reject",
    minFreeMb: 0,
    durability: "none",
    journalReserveMb: 64,
    retentionDays: 365,
    retentionMinFreeMb: 0,
    retentionRequireCommit: false,
    compression: "jpeg-ls",
  });
  assert.deepEqual(config.query, { caseInsensitivePn: false, maxResults: 500 });
  assert.equal(config.http.enabled, false);
  assert.equal(config.http.port, 0);
  assert.deepEqual(config.http.users, [{
    name: "admin",
    passwordHash: "scrypt$abc",
    role: "admin",
  }]);
  assert.deepEqual(config.log, { level: "debug", format: "json", phi: false });
  assert.deepEqual(config.knownAe, [
    { aeTitle: "CT1", host: "10.0.0.5", port: 104, maxAssociations: 2 },
    { aeTitle: "WS", host: "ws.local", port: 11112, maxAssociations: 8 },
  ]);
});

Deno.test("parseConfig() refuses an unknown key, naming it and its line", () => {
  const e = refused(`[server]\nport = 104\nprot = 104\n`, "server.prot", 3, /unknown key/);
  assert.equal(e.message.split(": ")[0], "test.toml:3");
});

Deno.test("parseConfig() refuses an unknown section, naming its line", () => {
  refused(`[server]\nport = 104\n\n[databse]\npath = "x"\n`, "databse", 4, /unknown section/);
});

Deno.test("storage.journal_reserve_mb: 512 by default, 0 turns it off, negative is refused", () => {
  assert.equal(parseConfig("", "x.toml").storage.journalReserveMb, 512);
  assert.equal(
    parseConfig("[storage]\njournal_reserve_mb = 0\n", "x.toml").storage.journalReserveMb,
    0,
  );
  refused(`[storage]\njournal_reserve_mb = -1\n`, "storage.journal_reserve_mb", 2, />= 0/);
  refused(`[storage]\njournal_reserve_mb = 1.5\n`, "storage.journal_reserve_mb", 2, /integer/);
  // The effective config prints it, and reads back the same.
  const printed = formatConfig(parseConfig("[storage]\njournal_reserve_mb = 96\n", "x.toml"));
  assert.match(printed, /^journal_reserve_mb = 96$/m);
  assert.equal(parseConfig(printed, "printed").storage.journalReserveMb, 96);
});

Deno.test("known_ae max_incoming: absent by default, 1 and up accepted, 0 or negative refused", () => {
  const ae = (extra: string) =>
    `[[known_ae]]\nae_title = "HOLDER"\nhost = "127.0.0.1"\nport = 104\n${extra}`;
  const plain = parseConfig(ae(""), "x.toml").knownAe[0];
  assert.ok(!("maxIncoming" in plain), "no per-AE limit unless written");
  assert.equal(parseConfig(ae("max_incoming = 1\n"), "x.toml").knownAe[0].maxIncoming, 1);
  refused(ae("max_incoming = 0\n"), "known_ae[0].max_incoming", 5, /1 to 1000/);
  refused(ae("max_incoming = -3\n"), "known_ae[0].max_incoming", 5, /1 to 1000/);
  refused(ae('max_incoming = "2"\n'), "known_ae[0].max_incoming", 5, /integer/);
  // Printed only when set, and read back the same.
  assert.doesNotMatch(formatConfig(parseConfig(ae(""), "x.toml")), /max_incoming/);
  const printed = formatConfig(parseConfig(ae("max_incoming = 3\n"), "x.toml"));
  assert.match(printed, /^max_incoming = 3$/m);
  assert.equal(parseConfig(printed, "printed").knownAe[0].maxIncoming, 3);
});

Deno.test("known_ae move_destinations: absent by default, a list of known AE titles", () => {
  const ae = (title: string, extra = "") =>
    `[[known_ae]]\nae_title = "${title}"\nhost = "127.0.0.1"\nport = 104\n${extra}`;
  const two = ae("VIEWER", 'move_destinations = ["WS ", "VIEWER"]\n') + ae("WS");
  const config = parseConfig(two, "x.toml");
  assert.deepEqual(config.knownAe[0].moveDestinations, ["WS", "VIEWER"], "trimmed");
  assert.ok(!("moveDestinations" in config.knownAe[1]), "no restriction unless written");
  assert.deepEqual(
    parseConfig(ae("VIEWER", "move_destinations = []\n"), "x").knownAe[0].moveDestinations,
    [],
  );
  refused(
    ae("WS") + ae("VIEWER", 'move_destinations = ["WS", "WS2"]\n'),
    "known_ae[1].move_destinations",
    9,
    /entry 1 "WS2" is not the ae_title of a \[\[known_ae\]\]/,
  );
  refused(ae("VIEWER", 'move_destinations = "WS"\n'), "known_ae[0].move_destinations", 5, /list/);
  refused(
    ae("VIEWER", 'move_destinations = ["A\\\\B"]\n'),
    "known_ae[0].move_destinations",
    5,
    /entry 0 must be an AE title/,
  );
  // Printed only when set, and read back the same.
  const printed = formatConfig(config);
  assert.match(printed, /^move_destinations = \["WS", "VIEWER"\]$/m);
  assert.equal(printed.match(/move_destinations/g)?.length, 1);
  assert.deepEqual(parseConfig(printed, "printed").knownAe, config.knownAe);
});

Deno.test("storage.retention_min_free_mb: 0 (off) by default, negative refused, printed", () => {
  assert.equal(parseConfig("", "x.toml").storage.retentionMinFreeMb, 0);
  const config = parseConfig("[storage]\nretention_min_free_mb = 20480\n", "x.toml");
  assert.equal(config.storage.retentionMinFreeMb, 20480);
  refused(`[storage]\nretention_min_free_mb = -1\n`, "storage.retention_min_free_mb", 2, />= 0/);
  refused(`[storage]\nretention_min_free_mb = "1G"\n`, "storage.retention_min_free_mb", 2);
  const printed = formatConfig(config);
  assert.match(printed, /^retention_min_free_mb = 20480$/m);
  assert.equal(parseConfig(printed, "printed").storage.retentionMinFreeMb, 20480);
});

Deno.test("parseConfig() refuses a duplicate known AE title (trimmed, case-sensitive)", () => {
  const ae = (title: string) => `[[known_ae]]\nae_title = "${title}"\nhost = "h"\nport = 104\n`;
  const e = refused(ae("VIEWER") + ae("CT") + ae("VIEWER "), "known_ae[2].ae_title", 10);
  assert.match(e.message, /duplicate "VIEWER", also in known_ae\[0\]/);
  assert.equal(parseConfig(ae("VIEWER") + ae("viewer"), "x").knownAe.length, 2);
});

Deno.test("parseConfig() refuses a known AE missing a required field, naming its block", () => {
  refused(
    `[[known_ae]]\nae_title = "A"\nhost = "h"\nport = 1\n\n[[known_ae]]\nae_title = "B"\nport = 104\n`,
    "known_ae[1].host",
    6,
    /is required/,
  );
  refused(`[[known_ae]]\nae_title = "A"\nhost = "h"\nport = 0\n`, "known_ae[0].port", 4);
});

Deno.test("[[http.users]] role is viewer or admin (the default)", () => {
  const c = parseConfig(
    `[[http.users]]\nname = "a"\npassword_hash = "x"\n[[http.users]]\nname = "v"\npassword_hash = "y"\nrole = "viewer"\n`,
    "x.toml",
  );
  assert.deepEqual(c.http.users.map((u) => u.role), ["admin", "viewer"]);
  refused(
    `[[http.users]]\nname = "a"\npassword_hash = "x"\nrole = "root"\n`,
    "http.users[0].role",
    4,
    /one of/,
  );
});

Deno.test("parseConfig() refuses bad or duplicate web users", () => {
  refused(`[http]\n[[http.users]]\nname = "a"\n`, "http.users[0].password_hash", 2, /required/);
  refused(
    `[[http.users]]\nname = "a"\npassword_hash = "x"\n[[http.users]]\nname = "a"\npassword_hash = "y"\n`,
    "http.users[1].name",
    5,
    /duplicate/,
  );
  refused(`[http]\nusers = [{ name = "a", password = "x" }]\n`, "http.users[0].password", 2);
});

Deno.test("parseConfig() reports a TOML syntax error with its line and column", () => {
  const e = refused(`[server]\nport = 104\nbind = = "x"\n`, "", 3, /TOML syntax error/);
  assert.equal(e.column, 8);
  assert.ok(e.message.startsWith("test.toml:3:8: TOML syntax error"), e.message);
});

Deno.test("parseConfig() refuses a key given twice as a syntax error", () => {
  refused(`[server]\nport = 1\nport = 2\n`, "", 3, /TOML syntax error/);
});

Deno.test("parseConfig() reads [dicomweb] and [viewer], refusing a bad path or origin", () => {
  const c = parseConfig(
    `[dicomweb]\nenabled = true\npath = "/dw/v1"\ncors_origins = ["https://Viewer.example:8443", "*"]\n` +
      `[viewer]\nohif_path = "/opt/ohif/dist"\n`,
    "t.toml",
  );
  assert.deepEqual(c.dicomweb, {
    enabled: true,
    path: "/dw/v1",
    corsOrigins: ["https://viewer.example:8443", "*"],
  });
  assert.equal(c.viewer.ohifPath, "/opt/ohif/dist");
  const d = parseConfig("", "t.toml");
  assert.deepEqual(d.dicomweb, { enabled: true, path: "/dicom-web", corsOrigins: [] });
  assert.equal(d.viewer.ohifPath, "");
  assert.throws(
    () => parseConfig(`[dicomweb]\npath = "dicom-web"\n`, "t.toml"),
    /t\.toml:2: dicomweb\.path: must be a path/,
  );
  assert.throws(
    () => parseConfig(`[dicomweb]\npath = "/a/../b"\n`, "t.toml"),
    /dicomweb\.path/,
  );
  assert.throws(
    () => parseConfig(`[dicomweb]\ncors_origins = ["viewer.example"]\n`, "t.toml"),
    /dicomweb\.cors_origins: entry 0/,
  );
});

Deno.test("[[route]] and [forward]: defaults, filters, a destination that must be a known AE", () => {
  const ae = `[[known_ae]]\nae_title = "CENTRAL"\nhost = "127.0.0.1"\nport = 104\n`;
  const none = parseConfig("", "x.toml");
  assert.deepEqual(none.routes, []);
  assert.deepEqual(none.forward, { retryMaxS: 300, giveUpAfterH: 0, commitTimeoutS: 3600 });
  const config = parseConfig(
    `[forward]\nretry_max_s = 60\ngive_up_after_h = 1.5\ncommit_timeout_s = 120\n${ae}` +
      `[[route]]\ndestination = "CENTRAL"\ncalling_ae = ["CT1"]\nmodality = ["CT", "MR"]\n` +
      `sop_classes = []\n[[route]]\ndestination = "CENTRAL"\ncommit = true\n`,
    "x.toml",
  );
  assert.deepEqual(config.forward, { retryMaxS: 60, giveUpAfterH: 1.5, commitTimeoutS: 120 });
  assert.deepEqual(config.routes, [
    { destination: "CENTRAL", callingAe: ["CT1"], modality: ["CT", "MR"] },
    { destination: "CENTRAL", commit: true },
  ]);
  refused(`${ae}[[route]]\ndestination = "CENTRAL"\ncommit = "yes"\n`, "route[0].commit", 7);
  refused(`[forward]\ncommit_timeout_s = -1\n`, "forward.commit_timeout_s", 2);
  refused(`${ae}[[route]]\ndestination = "ELSEWHERE"\n`, "route[0].destination", 6, /known_ae/);
  refused(`${ae}[[route]]\ncalling_ae = ["CT1"]\n`, "route[0].destination", 5, /required/);
  refused(`${ae}[[route]]\ndestination = "CENTRAL"\nmodality = ["ct"]\n`, "route[0].modality", 7);
  refused(`${ae}[[route]]\ndestination = "CENTRAL"\nport = 1\n`, "route[0].port", 7, /unknown/);
  refused(`[forward]\nretry_max_s = 0\n`, "forward.retry_max_s", 2);
  refused(`[forward]\ngive_up_after_h = -1\n`, "forward.give_up_after_h", 2);
  const printed = formatConfig(config);
  assert.deepEqual(parseConfig(printed, "printed").routes, config.routes);
  assert.deepEqual(parseConfig(printed, "printed").forward, config.forward);
});
