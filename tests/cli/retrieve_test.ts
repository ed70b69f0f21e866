// What move and get share, in process: their arguments (peer, timeout, unique keys only) and
// the result as printed (a table or JSON) with the exit code.
import assert from "node:assert/strict";
import { printRetrieveResult, retrieveArgs } from "../../src/cli/retrieve.ts";
import { UsageError } from "../../src/cli/subcommand.ts";
import { Status } from "../../src/core/dimse/status.ts";

/** Runs `fn` with console.log captured; stderr is left alone. */
function stdoutOf(fn: () => number): { code: number; out: string } {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(" "));
  try {
    return { code: fn(), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

const result = (over: Partial<Parameters<typeof printRetrieveResult>[1]> = {}) => ({
  status: Status.Success,
  completed: 3,
  failed: 0,
  warning: 0,
  remaining: 0,
  failedSopInstanceUids: [],
  ...over,
});

Deno.test("retrieveArgs(): one peer, the timeout in ms, the identifier from -k", () => {
  const { peer, timeoutMs, request } = retrieveArgs({
    positionals: ["PACS@127.0.0.1:104"],
    values: { key: ["StudyInstanceUID=1.2.3"], timeout: "5" },
  }, "move");
  assert.deepEqual(peer, { aeTitle: "PACS", host: "127.0.0.1", port: 104 });
  assert.equal(timeoutMs, 5000);
  assert.equal(request.level, "STUDY");
  assert.deepEqual(request.keys.map((k) => [k.name, k.value]), [["StudyInstanceUID", "1.2.3"]]);
});

Deno.test("retrieveArgs() refuses a missing or extra peer, naming the command", () => {
  assert.throws(
    () => retrieveArgs({ positionals: [], values: {} }, "get"),
    (e: unknown) => e instanceof UsageError && /get takes one AET@host:port/.test(e.message),
  );
  assert.throws(
    () => retrieveArgs({ positionals: ["A@h:1", "B@h:2"], values: {} }, "move"),
    /move takes one/,
  );
});

Deno.test("printRetrieveResult(): exit 0 only for Success, the counts as a table", () => {
  const o = { name: "C-MOVE" as const, where: "PACS@h:104", calling: "ME", json: false };
  const ok = stdoutOf(() => printRetrieveResult({ ...o, destination: "VIEWER" }, result()));
  assert.equal(ok.code, 0);
  assert.match(ok.out, /Completed\s+Failed\s+Warning\s+Status/);
  assert.match(ok.out, /3\s+0\s+0\s+0x0000/);
  const partly = stdoutOf(() =>
    printRetrieveResult(
      o,
      result({
        status: Status.SubOpsCompleteWithFailures,
        completed: 2,
        failed: 1,
        failedSopInstanceUids: ["1.2.3.4"],
      }),
    )
  );
  assert.equal(partly.code, 1);
  assert.match(partly.out, /failed: 1\.2\.3\.4/);
});

Deno.test("printRetrieveResult() with --json: one object with the status text and the files", () => {
  const files = [{
    sopInstanceUid: "1.2.3.4",
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    transferSyntaxUid: "1.2.840.10008.1.2.1",
    path: "out/1.2.3.4.dcm",
  }];
  const { code, out } = stdoutOf(() =>
    printRetrieveResult(
      { name: "C-GET", where: "PACS@h:104", calling: "ME", json: true, files },
      result({ status: Status.Cancel, remaining: 4 }),
    )
  );
  assert.equal(code, 1);
  const parsed = JSON.parse(out);
  assert.equal(parsed.statusText, "0xFE00 cancel");
  assert.equal(parsed.remaining, 4);
  assert.deepEqual(parsed.files, files);
});
