// The admission step: each connection becomes an association counted against the limits of
// `[server]` and [[known_ae]] max_incoming, judged at A-ASSOCIATE-RQ time; a stop lets open
// associations finish, then aborts the rest.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG, type KnownAe } from "../../src/config.ts";
import {
  admissionLimits,
  AssociationIntake,
  syntaxTable,
} from "../../src/app/association_intake.ts";
import { ServerStats } from "../../src/app/stats.ts";
import type { Logger } from "../../src/core/ports.ts";
import { VerificationService } from "../../src/core/services/echo_scp.ts";
import { AssociationRejectedError, RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { knownAe as known } from "../helpers/known_ae.ts";
import { memoryConnectionPair } from "../helpers/memory_connection.ts";
import { echo, IMPLICIT_LE, quietLogger, VERIFICATION } from "../helpers/scu.ts";

function config(over: Partial<Config["server"]> = {}, knownAe: KnownAe[] = []): Config {
  return { ...DEFAULT_CONFIG, server: { ...DEFAULT_CONFIG.server, ...over }, knownAe };
}

function intake(c: Config, logger: Logger = quietLogger) {
  const ended: string[] = [];
  const stats = new ServerStats();
  const services = stats.observeServices([new VerificationService()]);
  const it = new AssociationIntake({
    config: c,
    services,
    stats,
    logger,
    audit: null,
    ended: (id) => {
      ended.push(id);
      return Promise.resolve();
    },
  });
  return { it, ended, stats };
}

/** A requestor calling as `calling` over an in-memory connection handed to the intake. */
function call(it: AssociationIntake, calling: string): Promise<RequestorAssociation> {
  const [server, client] = memoryConnectionPair();
  it.onConnection(server);
  return new RequestorAssociation({
    id: calling,
    connection: client,
    logger: quietLogger,
    artimTimeoutMs: 2000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: calling,
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    presentationContexts: [{
      id: 1,
      abstractSyntax: VERIFICATION,
      transferSyntaxes: [IMPLICIT_LE],
    }],
  }).open();
}

Deno.test("admissionLimits() takes max_incoming per known AE, and the callers of accept = known", () => {
  const c = config({ accept: "known", maxAssociations: 7 }, [
    known("CT1", { maxIncoming: 1 }),
    known("VIEWER"),
  ]);
  const limits = admissionLimits(c);
  assert.equal(limits.maxAssociations, 7);
  assert.deepEqual([...limits.maxIncoming], [["CT1", 1]]);
  assert.deepEqual([...limits.knownCallingAeTitles!].sort(), ["CT1", "VIEWER"]);
  assert.equal(admissionLimits(config({ accept: "store" })).knownCallingAeTitles, undefined);
});

Deno.test("syntaxTable() lists every abstract syntax the services serve", () => {
  const table = syntaxTable([new VerificationService()]);
  assert.deepEqual([...table.keys()], [VERIFICATION]);
});

Deno.test("a calling AE over its max_incoming is rejected; once one is released it gets in", async () => {
  const { it, ended } = intake(config({}, [known("CT1", { maxIncoming: 1 })]));
  const first = await call(it, "CT1");
  assert.equal(await echo(first), 0x0000);
  await assert.rejects(call(it, "CT1"), AssociationRejectedError);
  // Another caller is not held back by CT1's limit.
  const other = await call(it, "CT2");
  await other.release();
  await first.release();
  await first.finished;
  const again = await call(it, "CT1");
  assert.equal(await echo(again), 0x0000);
  await again.release();
  await again.finished;
  // Give the intake's finally blocks their turn: each ended association is reported once.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(it.openAssociations, 0);
  assert.equal(new Set(ended).size, ended.length);
  assert.equal(ended.length, 4);
});

Deno.test("setKnownAe() lets a new caller in under accept = known, for new associations", async () => {
  const { it } = intake(config({ accept: "known" }, [known("OLD")]));
  await assert.rejects(call(it, "NEWCOMER"), AssociationRejectedError);
  it.setKnownAe([known("OLD"), known("NEWCOMER")]);
  const assoc = await call(it, "NEWCOMER");
  await assoc.release();
  await assoc.finished;
});

Deno.test("drain() aborts what is still open after the grace time, saying so", async () => {
  const lines: string[] = [];
  const logger: Logger = { log: (level, message) => lines.push(`${level} ${message}`) };
  const { it } = intake(config(), logger);
  const assoc = await call(it, "LINGER");
  assert.equal(it.openAssociations, 1);
  await it.drain(50);
  assert.equal(await assoc.finished, "aborted");
  assert.ok(lines.includes("warn association aborted at shutdown"), lines.join("\n"));
  assert.ok(lines.some((l) => /waiting for 1 association/.test(l)), lines.join("\n"));
});
