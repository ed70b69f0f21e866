// Server-wide counters: associations, operations, stores per minute, the events ring.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../src/core/dimse/command.ts";
import { Status } from "../../src/core/dimse/status.ts";
import type { DimseService, ServiceContext } from "../../src/core/dimse/service_contract.ts";
import { ServerStats } from "../../src/app/stats.ts";

const info = (id: string, ae = "CT1") => ({
  id,
  callingAeTitle: ae,
  calledAeTitle: "MINIPACS",
  remote: "10.1.1.1:4000",
});

Deno.test("ServerStats counts accepted, rejected by reason and aborted, today and in total", () => {
  const stats = new ServerStats();
  const a = stats.association("1", "10.1.1.1:4000");
  a.accepted!(info("1"));
  assert.equal(stats.openCount, 1);
  const b = stats.association("2", "10.1.1.2:4000");
  b.rejected!(info("2", "NOPE"), "calling_ae", `calling AE title "NOPE" is not a known AE`);
  b.ended("rejected");
  const c = stats.association("3", "10.1.1.3:4000");
  c.rejected!(info("3"), "local_limit", "too many associations (local limit exceeded)");
  a.ended("aborted");
  a.ended("aborted"); // once only
  assert.equal(stats.openCount, 0);
  assert.deepEqual(stats.today(), { accepted: 1, rejected: 2, aborted: 1 });
  assert.deepEqual(stats.totals(), {
    accepted: 1,
    rejected: 2,
    aborted: 1,
    rejectedByReason: { calling_ae: 1, local_limit: 1 },
  });
  const kinds = stats.recentEvents().map((e) => e.kind);
  assert.deepEqual(kinds, ["aborted", "rejected", "rejected", "accepted"]);
  assert.match(stats.recentEvents()[2].text, /NOPE/);
});

Deno.test("the today counts start again at local midnight", () => {
  let now = new Date(2026, 0, 5, 23, 59).getTime();
  const stats = new ServerStats(() => now);
  stats.association("1", "x").accepted!(info("1"));
  assert.equal(stats.today().accepted, 1);
  now = new Date(2026, 0, 6, 0, 1).getTime();
  assert.equal(stats.today().accepted, 0);
  assert.equal(stats.totals().accepted, 1);
});

Deno.test("bytes are counted per open association and in total", () => {
  const stats = new ServerStats();
  const t = stats.association("9", "10.0.0.9:1");
  t.bytes!(100, 0); // before the A-ASSOCIATE-AC: still counted
  t.accepted!(info("9"));
  t.bytes!(400, 50);
  const [open] = stats.openAssociations();
  assert.equal(open.bytesReceived, 500);
  assert.equal(open.bytesSent, 50);
  assert.equal(open.remote, "10.0.0.9:1");
  assert.deepEqual(stats.bytes(), { received: 500, sent: 50 });
});

Deno.test("stores per minute cover the last hour and forget older minutes", () => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 30);
  const stats = new ServerStats(() => now);
  const ok = { status: 0, bytes: 1, ms: 2, sopClassUid: "1.2" };
  stats.stored(ok);
  stats.stored(ok);
  stats.stored({ ...ok, status: 0xa700 }); // a refused store is not a store
  now += 60_000;
  stats.stored(ok);
  let perMinute = stats.storesPerMinute();
  assert.equal(perMinute.length, 60);
  assert.deepEqual(perMinute.slice(-2), [2, 1]);
  now += 59 * 60_000; // the first minute is now 60 minutes ago
  perMinute = stats.storesPerMinute();
  assert.equal(perMinute.reduce((a, b) => a + b), 1);
  now += 60 * 60_000;
  assert.equal(stats.storesPerMinute().reduce((a, b) => a + b), 0);
});

Deno.test("the store duration histogram is cumulative with sum and count", () => {
  const stats = new ServerStats();
  for (const ms of [0.5, 3, 3, 40, 20_000]) {
    stats.stored({ status: 0, bytes: 1, ms, sopClassUid: "1.2" });
  }
  const h = stats.storeDuration();
  assert.equal(h.count, 5);
  assert.ok(Math.abs(h.sum - 20.0465) < 1e-9);
  assert.equal(h.buckets[0], 1); // <= 1 ms
  assert.equal(h.buckets[2], 3); // <= 5 ms
  assert.equal(h.buckets.at(-1), 4); // <= 10 s; the 20 s one only in +Inf (count)
});

Deno.test("the events ring keeps the newest 100, newest first", () => {
  const stats = new ServerStats();
  for (let i = 0; i < 130; i++) stats.echoSent(`P${i}`, `echo ${i}`, true);
  const events = stats.recentEvents(200);
  assert.equal(events.length, 100);
  assert.equal(events[0].peer, "P129");
  assert.equal(events[99].peer, "P30");
  assert.deepEqual(stats.recentEvents(2).map((e) => e.peer), ["P129", "P128"]);
});

Deno.test("observeServices() counts each final response by service and status, not pendings", async () => {
  const stats = new ServerStats();
  const sent: number[] = [];
  const find: DimseService = {
    name: "find",
    commandFields: [CommandField.CFindRq],
    *syntaxes() {},
    async handle(_req, ctx) {
      await ctx.send({
        commandField: CommandField.CFindRsp,
        commandDataSetType: 0,
        status: Status.Pending,
      });
      await ctx.send({
        commandField: CommandField.CFindRsp,
        commandDataSetType: 0,
        status: Status.Pending,
      });
      await ctx.send({
        commandField: CommandField.CFindRsp,
        commandDataSetType: NO_DATASET,
        status: 0,
      });
    },
  };
  const [wrapped] = stats.observeServices([find]);
  assert.equal(wrapped.name, "find");
  assert.deepEqual(wrapped.commandFields, [CommandField.CFindRq]);
  const t = stats.association("4", "10.0.0.4:1");
  t.accepted!(info("4"));
  const ctx = {
    association: info("4"),
    send: (cmd: { status?: number }) => {
      sent.push(cmd.status ?? -1);
      return Promise.resolve();
    },
  } as unknown as ServiceContext;
  await wrapped.handle({ command: { commandField: CommandField.CFindRq } } as never, ctx);
  assert.deepEqual(sent, [Status.Pending, Status.Pending, 0]); // every response still goes out
  assert.deepEqual(stats.operations(), [{ service: "find", status: 0, count: 1 }]);
  assert.deepEqual(stats.openAssociations()[0].services, { find: 1 });
  assert.match(stats.recentEvents(1)[0].text, /^C-FIND: 0x0000 success/);
});
