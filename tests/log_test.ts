import assert from "node:assert/strict";
import { createLogger } from "../src/log.ts";

const at = () => new Date("2026-11-27T10:00:00.123Z");

function capture(level: "error" | "warn" | "info" | "debug", format: "text" | "json") {
  const lines: string[] = [];
  return { lines, logger: createLogger(level, format, (l) => lines.push(l), at) };
}

Deno.test("text logger writes one line: time, padded level, message, key=value fields", () => {
  const { lines, logger } = capture("info", "text");
  logger.log("info", "association accepted", { assoc: 3, peer: "STORESCU@127.0.0.1:51234" });
  assert.deepEqual(lines, [
    "2026-11-27T10:00:00.123Z INFO  association accepted assoc=3 peer=STORESCU@127.0.0.1:51234",
  ]);
});

Deno.test("text logger quotes values with spaces, quotes or newlines and keeps one line", () => {
  const { lines, logger } = capture("debug", "text");
  logger.log("warn", "bad\nthing", {
    ae: "MY AE",
    note: 'say "hi"',
    empty: "",
    multi: "a\nb",
    ok: true,
    error: new Error("disk full"),
    skipped: undefined,
  });
  assert.equal(lines.length, 1);
  assert.equal(
    lines[0],
    '2026-11-27T10:00:00.123Z WARN  bad\\nthing ae="MY AE" note="say \\"hi\\"" empty="" ' +
      'multi="a\\nb" ok=true error="disk full"',
  );
});

Deno.test("json logger writes one object per line with time, level, msg and fields", () => {
  const { lines, logger } = capture("info", "json");
  logger.log("error", "store failed", { assoc: 7, status: "A700", error: new Error("no space") });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-11-27T10:00:00.123Z",
    level: "error",
    msg: "store failed",
    assoc: 7,
    status: "A700",
    error: "no space",
  });
  assert.ok(lines[0].startsWith('{"time":'), "time comes first");
});

Deno.test("json logger keeps a line even for fields it cannot serialize", () => {
  const { lines, logger } = capture("info", "json");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  logger.log("info", "odd", { size: 10n, cycle });
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).msg, "odd");
});

Deno.test("logger drops events below its level and setLevel() changes the threshold", () => {
  const { lines, logger } = capture("warn", "text");
  logger.log("info", "hidden");
  logger.log("debug", "hidden");
  logger.log("error", "shown");
  logger.setLevel("debug");
  logger.log("debug", "now shown");
  logger.setLevel("error");
  logger.log("warn", "hidden again");
  assert.deepEqual(lines.map((l) => l.slice(25)), ["ERROR shown", "DEBUG now shown"]);
});

Deno.test("default sink writes each line to stderr before an immediate exit", async () => {
  const src = new URL("../src/log.ts", import.meta.url).href;
  const code = `import { createLogger } from "${src}";
const log = createLogger("info", "json");
log.log("info", "last words", { n: 1 });
Deno.exit(3);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 3);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  // Deno itself may print warnings first; ours is the last line.
  const line = JSON.parse(new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)!);
  assert.equal(line.msg, "last words");
  assert.equal(line.n, 1);
});

Deno.test("text logger escapes control characters from peers in messages and fields", () => {
  const { lines, logger } = capture("info", "text");
  logger.log("warn", "unsupported ae\0\x1b[2Jx\x7f", {
    peer: "EVIL\0AE\x1b@1.2.3.4:5",
    ae: "A\x85",
  });
  assert.equal(lines.length, 1);
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(lines[0], /[\x00-\x1f\x7f-\x9f]/);
  assert.equal(
    lines[0],
    "2026-11-27T10:00:00.123Z WARN  unsupported ae\\x00\\x1b[2Jx\\x7f " +
      'peer="EVIL\\u0000AE\\u001b@1.2.3.4:5" ae="A\\x85"',
  );
});
