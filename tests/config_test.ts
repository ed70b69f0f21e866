import assert from "node:assert/strict";
import {
  applyOverrides,
  type Config,
  ConfigError,
  configWarnings,
  DEFAULT_CONFIG,
  formatConfig,
  loadConfig,
  parseConfig,
} from "../src/config.ts";

const defaults = () => structuredClone(DEFAULT_CONFIG) as Config;

/** Asserts that parsing `text` is refused with a message naming `key` (and `line` if given). */
function refused(text: string, key: string, line?: number, detail?: RegExp): ConfigError {
  try {
    parseConfig(text, "test.toml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key);
    assert.equal(e.file, "test.toml");
    if (line !== undefined) assert.equal(e.line, line);
    assert.ok(!e.message.includes("\n"), "message is one line");
    assert.ok(e.message.startsWith(`test.toml${line ? `:${line}` : ""}`), e.message);
    assert.ok(e.message.includes(key), e.message);
    if (detail) assert.match(e.message, detail);
    return e;
  }
  assert.fail(`config was accepted:\n${text}`);
}

Deno.test("parseConfig() of an empty file gives the defaults", () => {
  assert.deepEqual(parseConfig("", "x.toml"), DEFAULT_CONFIG);
});

Deno.test("the shipped config.toml is the defaults plus the example VIEWER known AE", async () => {
  const config = await loadConfig(new URL("../config.toml", import.meta.url).pathname);
  const expected = defaults();
  expected.knownAe = [{ aeTitle: "VIEWER", host: "127.0.0.1", port: 11112, maxAssociations: 2 }];
  assert.deepEqual(config, expected);
});

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

Deno.test("parseConfig() accepts the range limits and trims AE titles", () => {
  const config = parseConfig(
    `[server]\nport = 65535\nmax_pdu_length = 4096\nae_title = " ABCDEFGHIJKLMNOP "\n`,
    "x.toml",
  );
  assert.equal(config.server.port, 65535);
  assert.equal(config.server.maxPduLength, 4096);
  assert.equal(config.server.aeTitle, "ABCDEFGHIJKLMNOP");
});

Deno.test("parseConfig() refuses an unknown key, naming it and its line", () => {
  const e = refused(`[server]\nport = 104\nprot = 104\n`, "server.prot", 3, /unknown key/);
  assert.equal(e.message.split(": ")[0], "test.toml:3");
});

Deno.test("an unknown key or section suggests the nearest known one", () => {
  refused(
    `[server]\nmax_asociations = 10\n`,
    "server.max_asociations",
    2,
    /did you mean max_associations\?/,
  );
  refused(
    `[storage]\nretention-days = 3\n`,
    "storage.retention-days",
    2,
    /did you mean retention_days\?/,
  );
  refused(`[sever]\nport = 1\n`, "sever", 1, /unknown section; did you mean server\?/);
  // Nothing close: no guess, the known keys only.
  const e = refused(
    `[server]\nzzzzzzzz = 1\n`,
    "server.zzzzzzzz",
    2,
    /unknown key \(known keys: ae_title/,
  );
  assert.doesNotMatch(e.message, /did you mean/);
});

Deno.test("configWarnings() names what is allowed but probably not meant", () => {
  const fine = parseConfig("", "x.toml");
  assert.deepEqual(configWarnings(fine), []);
  const w = configWarnings(parseConfig(
    `[storage]\nmin_free_mb = 100\nretention_min_free_mb = 50\ndurability = "none"\n` +
      `[server]\naccept = "known"\nport = 8080\n[http]\nport = 8080\n`,
    "x.toml",
  ));
  assert.equal(w.length, 4);
  assert.match(w[0], /retention_min_free_mb \(50\) is not above storage\.min_free_mb \(100\)/);
  assert.match(w[1], /durability = "none"/);
  assert.match(w[2], /both 8080/);
  assert.match(w[3], /no \[\[known_ae\]\]: every association is rejected/);
});

Deno.test("parseConfig() refuses an unknown section, naming its line", () => {
  refused(`[server]\nport = 104\n\n[databse]\npath = "x"\n`, "databse", 4, /unknown section/);
});

Deno.test("parseConfig() refuses a wrong type", () => {
  refused(`[server]\nport = "4242"\n`, "server.port", 2, /must be an integer.*got "4242"/);
  refused(`[server]\nport = 4242.0\n`, "server.port", 2, /must be an integer/);
  refused(`[server]\ncheck_called_ae = "yes"\n`, "server.check_called_ae", 2, /true or false/);
  refused(`[storage]\npath = 5\n`, "storage.path", 2, /string/);
  refused(`server = 5\n`, "server", 1, /must be a table/);
  refused(`[known_ae]\nae_title = "X"\n`, "known_ae", 1, /array of tables/);
});

Deno.test("parseConfig() refuses an out-of-range value with the allowed range", () => {
  const e = refused(`\n[server]\n\nport = 70000\n`, "server.port", 4);
  assert.equal(
    e.message,
    "test.toml:4: server.port: must be an integer from 0 to 65535, got 70000",
  );
  refused(`[server]\nmax_associations = 0\n`, "server.max_associations", 2, /1 to 1000/);
  refused(`[server]\nmax_pdu_length = 131073\n`, "server.max_pdu_length", 2);
  refused(`[storage]\nmin_free_mb = -1\n`, "storage.min_free_mb", 2, />= 0/);
  refused(`[http]\nport = -1\n`, "http.port", 2);
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

Deno.test("parseConfig() refuses a bad enum value, listing the allowed ones", () => {
  refused(`[log]\nlevel = "verbose"\n`, "log.level", 2, /"error", "warn", "info", "debug"/);
  refused(`[storage]\nduplicates = "keep"\n`, "storage.duplicates", 2, /"overwrite"/);
  refused(`[server]\naccept = "all"\n`, "server.accept", 2);
});

Deno.test("parseConfig() refuses a bad UID", () => {
  refused(`[server]\nimplementation_class_uid = "1.2.x"\n`, "server.implementation_class_uid", 2);
  refused(`[storage]\nsop_classes = ["1.2.3", "abc"]\n`, "storage.sop_classes", 2, /entry 1/);
  refused(`[storage]\nsop_classes = "some"\n`, "storage.sop_classes", 2);
});

Deno.test("parseConfig() refuses an AE title over 16 characters, empty or with a backslash", () => {
  refused(`[server]\nae_title = "ABCDEFGHIJKLMNOPQ"\n`, "server.ae_title", 2, /1 to 16/);
  refused(`[server]\nae_title = "   "\n`, "server.ae_title", 2);
  refused(`[server]\nae_title = "A\\\\B"\n`, "server.ae_title", 2);
  refused(
    `[[known_ae]]\nae_title = "X"\nhost = "h"\nport = 1\n[[known_ae]]\nae_title = "WORKSTATION_NUMBER_1"\n`,
    "known_ae[1].ae_title",
    6,
  );
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

Deno.test("loadConfig() of a missing file is a ConfigError naming the file", async () => {
  await assert.rejects(loadConfig("/nonexistent/minipacs.toml"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(
      e.message,
      /^\/nonexistent\/minipacs\.toml: cannot read configuration: file not found$/,
    );
    return true;
  });
});

Deno.test("applyOverrides() replaces port, AE title and storage without touching the input", () => {
  const base = defaults();
  const out = applyOverrides(base, { port: 11112, aeTitle: "EDGE1", storage: "/srv/pacs" });
  assert.equal(out.server.port, 11112);
  assert.equal(out.server.aeTitle, "EDGE1");
  assert.equal(out.storage.path, "/srv/pacs");
  assert.deepEqual(base, DEFAULT_CONFIG);
  assert.deepEqual(applyOverrides(base, {}), base);
});

Deno.test("applyOverrides() refuses invalid values naming the option", () => {
  assert.throws(
    () => applyOverrides(defaults(), { port: 70000 }),
    /^ConfigError: command line: --port: must be an integer from 0 to 65535, got 70000$/,
  );
  assert.throws(
    () => applyOverrides(defaults(), { aeTitle: "X".repeat(17) }),
    /--ae-title: must be an AE title/,
  );
  assert.throws(() => applyOverrides(defaults(), { storage: "" }), /--storage/);
});

Deno.test("formatConfig() round-trips through parseConfig and masks password hashes", () => {
  const config = defaults();
  config.http.users = [{ name: "admin", passwordHash: "scrypt$secret", role: "viewer" }];
  config.knownAe = [{ aeTitle: "VIEWER", host: "127.0.0.1", port: 11112, maxAssociations: 3 }];
  config.storage.sopClasses = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"];
  config.storage.path = 'C:\\PACS "data"';
  const text = formatConfig(config);
  assert.ok(!text.includes("secret"), "hash is hidden");
  assert.match(text, /password_hash = "\*\*\*"/);
  assert.match(text, /^ae_title = "MINIPACS"$/m);
  const back = parseConfig(text, "formatted");
  assert.deepEqual(back, {
    ...config,
    http: { ...config.http, users: [{ name: "admin", passwordHash: "***", role: "viewer" }] },
  });
  assert.deepEqual(parseConfig(formatConfig(defaults()), "formatted"), DEFAULT_CONFIG);
});

Deno.test("DEFAULT_CONFIG cannot be modified by accident", () => {
  assert.throws(() => {
    (DEFAULT_CONFIG.server as { port: number }).port = 1;
  });
  assert.equal(DEFAULT_CONFIG.server.port, 4242);
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
