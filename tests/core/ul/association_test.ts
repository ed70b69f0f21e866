// Our requestor against our acceptor over an in-memory connection: the whole upper layer
// and DIMSE path without sockets.
import assert from "node:assert/strict";
import { CommandField, NO_DATASET } from "../../../src/core/dimse/command.ts";
import type { Logger } from "../../../src/core/ports.ts";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import type { DimseService } from "../../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import { AssociationRejectedError, RequestorAssociation } from "../../../src/core/ul/requestor.ts";
import type { AcceptorPolicy, SupportedSyntax } from "../../../src/core/ul/negotiation.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";

const VERIFICATION = "1.2.840.10008.1.1";
const IMPLICIT = "1.2.840.10008.1.2";

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (level, msg, f) => lines.push(`${level} ${msg} ${JSON.stringify(f ?? {})}`),
  };
}

function setup(
  opts: {
    policy?: Partial<AcceptorPolicy>;
    services?: DimseService[];
    maxPdu?: number;
    idleMs?: number;
    acceptorIdleMs?: number;
  } = {},
) {
  const [a, b] = memoryConnectionPair();
  const services = opts.services ?? [new VerificationService()];
  const syntaxes = new Map<string, SupportedSyntax>();
  for (const s of services) for (const x of s.syntaxes()) syntaxes.set(x.abstractSyntax, x);
  const log = collectingLogger();
  const acceptor = new AcceptorAssociation({
    id: "1",
    connection: a,
    logger: log,
    artimTimeoutMs: 1000,
    idleTimeoutMs: opts.acceptorIdleMs ?? 0,
    maxPduLength: 16384,
    services,
    policy: () => ({
      aeTitle: "MINIPACS",
      checkCalledAe: true,
      maxPduLength: 16384,
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
      implementationVersionName: "MINIPACS_2_0",
      syntaxes,
      ...opts.policy,
    }),
  });
  const running = acceptor.run();
  const requestor = new RequestorAssociation({
    id: "r",
    connection: b,
    logger: { log() {} },
    artimTimeoutMs: 1000,
    idleTimeoutMs: opts.idleMs ?? 0,
    maxPduLength: opts.maxPdu ?? 16384,
    callingAeTitle: "SCU",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    presentationContexts: [
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.3.4.5", IMPLICIT] },
      { id: 3, abstractSyntax: "1.2.3.999", transferSyntaxes: [IMPLICIT] },
    ],
  });
  return { acceptor, running, requestor, log };
}

Deno.test("requestor and acceptor associate, echo, and release cleanly", async () => {
  const { running, requestor, log } = setup();
  await requestor.open();
  assert.equal(requestor.ac?.userInformation.implementationVersionName, "MINIPACS_2_0");
  assert.equal(requestor.contexts.get(1)?.transferSyntax, IMPLICIT, "first supported syntax wins");
  assert.equal(requestor.contexts.has(3), false, "unknown abstract syntax is rejected");
  const rsp = await requestor.request(1, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: VERIFICATION,
  });
  assert.equal(rsp.command.status, 0);
  assert.equal(rsp.command.commandField, CommandField.CEchoRsp);
  await requestor.release();
  assert.equal(await running, "released");
  assert.equal(requestor.state, 1);
  assert.ok(log.lines.some((l) => l.includes("association accepted")));
});

Deno.test("a wrong called AE title is rejected permanently with reason 7", async () => {
  const { running, requestor } = setup({ policy: { aeTitle: "OTHER" } });
  await assert.rejects(requestor.open(), (e) => {
    assert.ok(e instanceof AssociationRejectedError);
    assert.deepEqual([e.rj.result, e.rj.source, e.rj.reason], [1, 1, 7]);
    return true;
  });
  assert.equal(await running, "rejected");
});

Deno.test("over the association limit: rejected-transient, local limit exceeded", async () => {
  const { running, requestor } = setup({ policy: { overLimit: true } });
  await assert.rejects(requestor.open(), (e) => {
    assert.ok(e instanceof AssociationRejectedError);
    assert.deepEqual([e.rj.result, e.rj.source, e.rj.reason], [2, 3, 2]);
    return true;
  });
  await running;
});

Deno.test("a dataset larger than both max PDUs streams through to the service intact", async () => {
  const received: Uint8Array[] = [];
  const sink: DimseService = {
    name: "sink",
    commandFields: [CommandField.CStoreRq],
    *syntaxes() {
      yield { abstractSyntax: VERIFICATION, acceptsTransferSyntax: () => true };
    },
    async handle(req, ctx) {
      for await (const c of req.dataset!) received.push(c.slice());
      await ctx.send({
        commandField: CommandField.CStoreRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId,
        status: 0,
      });
    },
  };
  const { requestor, running } = setup({ services: [sink], maxPdu: 4096 });
  await requestor.open();
  const data = new Uint8Array(100_001 + 1).map((_, i) => (i * 7) & 0xff);
  async function* chunks() {
    for (let i = 0; i < data.length; i += 3001) yield data.subarray(i, i + 3001);
  }
  const rsp = await requestor.request(1, {
    commandField: CommandField.CStoreRq,
    commandDataSetType: 0,
    affectedSopClassUid: VERIFICATION,
    affectedSopInstanceUid: "1.2.3",
  }, chunks());
  assert.equal(rsp.command.status, 0);
  const total = received.reduce((n, c) => n + c.length, 0);
  assert.equal(total, data.length);
  assert.ok(received.every((c) => c.length <= 16384 - 6), "no fragment exceeds our max PDU");
  const joined = new Uint8Array(total);
  let at = 0;
  for (const c of received) (joined.set(c, at), at += c.length);
  assert.deepEqual(joined, data);
  await requestor.release();
  await running;
});

Deno.test("an A-ABORT from the requestor ends the acceptor's association", async () => {
  const { running, requestor, log } = setup();
  await requestor.open();
  await requestor.abort();
  assert.equal(await running, "aborted");
  assert.ok(log.lines.some((l) => l.includes("peer sent A-ABORT")));
});

Deno.test("a request waiting for a slow answer is not taken for an idle association", async () => {
  const slow: DimseService = {
    name: "slow",
    commandFields: [CommandField.CEchoRq],
    *syntaxes() {
      yield { abstractSyntax: VERIFICATION, acceptsTransferSyntax: () => true };
    },
    async handle(req, ctx) {
      await new Promise((r) => setTimeout(r, 400));
      await ctx.send({
        commandField: CommandField.CEchoRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId,
        status: 0,
      });
    },
  };
  const { requestor, running } = setup({ services: [slow], idleMs: 100 });
  await requestor.open();
  const rsp = await requestor.request(1, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: VERIFICATION,
  });
  assert.equal(rsp.command.status, 0, "answered after 400 ms with a 100 ms idle timeout");
  await requestor.release();
  assert.equal(await running, "released");
});

Deno.test("a peer that stops reading is dropped after the idle timeout, the request fails", async () => {
  const { requestor, running } = setup({ idleMs: 200 });
  await requestor.open();
  // From now on every write to the acceptor hangs, as on a socket nobody reads.
  const conn =
    (requestor as unknown as { options: { connection: { write(b: Uint8Array): Promise<void> } } })
      .options.connection;
  conn.write = () => new Promise<void>(() => {});
  const t0 = performance.now();
  await assert.rejects(
    requestor.request(1, {
      commandField: CommandField.CEchoRq,
      commandDataSetType: NO_DATASET,
      affectedSopClassUid: VERIFICATION,
    }),
    /peer stopped reading/,
  );
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(requestor.state, 1, "the association is closed");
  await running;
});

Deno.test("a service that stops reading a dataset mid-way (a failed write) still answers", async () => {
  const quitter: DimseService = {
    name: "quitter",
    commandFields: [CommandField.CStoreRq],
    *syntaxes() {
      yield { abstractSyntax: VERIFICATION, acceptsTransferSyntax: () => true };
    },
    async handle(req, ctx) {
      for await (const _ of req.dataset!) break; // as a store whose write failed
      for await (const _ of req.dataset!) { /* the rest is drained and discarded */ }
      await ctx.send({
        commandField: CommandField.CStoreRsp,
        commandDataSetType: NO_DATASET,
        messageIdBeingRespondedTo: req.command.messageId,
        status: 0xa700,
      });
    },
  };
  const { requestor, running } = setup({ services: [quitter], maxPdu: 4096 });
  await requestor.open();
  async function* chunks() {
    for (let i = 0; i < 20; i++) yield new Uint8Array(3000).fill(i);
  }
  const answered = requestor.request(1, {
    commandField: CommandField.CStoreRq,
    commandDataSetType: 0,
    affectedSopClassUid: VERIFICATION,
    affectedSopInstanceUid: "1.2.3",
  }, chunks());
  const outcome = await Promise.race([
    answered,
    new Promise<"hang">((r) => setTimeout(() => r("hang"), 3000)),
  ]);
  assert.notEqual(outcome, "hang", "the reader was not left waiting for the service");
  assert.equal((outcome as { command: { status?: number } }).command.status, 0xa700);
  await requestor.release();
  await running;
});

Deno.test("an A-ASSOCIATE-AC that cannot be encoded ends in A-ASSOCIATE-RJ and an error line", async () => {
  // A version name outside Latin-1 cannot go into the PDU: the request is refused, not dropped.
  const { running, requestor, log } = setup({
    policy: { implementationVersionName: "MINIPACS_\u20ac" },
  });
  await assert.rejects(requestor.open(), (e) => {
    assert.ok(e instanceof AssociationRejectedError, `got ${e}`);
    assert.deepEqual([e.rj.result, e.rj.source], [2, 2]);
    return true;
  });
  assert.equal(await running, "rejected");
  assert.ok(
    log.lines.some((l) => l.startsWith("error negotiation failed") && l.includes("Latin-1")),
    log.lines.join("\n"),
  );
  assert.ok(!log.lines.some((l) => l.includes("association accepted")));
});

Deno.test("a PDU that cannot be encoded is answered with an A-ABORT and an error line", async () => {
  const [a, b] = memoryConnectionPair();
  const log = collectingLogger();
  const requestor = new RequestorAssociation({
    id: "r",
    connection: a,
    logger: log,
    artimTimeoutMs: 1000,
    idleTimeoutMs: 0,
    maxPduLength: 16384,
    callingAeTitle: "SCU",
    calledAeTitle: "MINIPACS",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    // An even presentation context id does not fit PS3.8 9.3.2.2.
    presentationContexts: [{ id: 2, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
  });
  await assert.rejects(requestor.open());
  const first = await b.read();
  assert.ok(first, "the peer got a PDU before the close");
  assert.equal(first[0], 0x07, "A-ABORT");
  assert.equal(await b.read(), null, "then the connection is closed");
  assert.ok(
    log.lines.some((l) => l.startsWith("error cannot encode A-ASSOCIATE-RQ")),
    log.lines.join("\n"),
  );
});

Deno.test("an exception while answering an A-ASSOCIATE-RQ ends in an A-ABORT and an error line", async () => {
  const { acceptor, running, requestor, log } = setup();
  acceptor.observer = {
    accepted() {
      throw new Error("status page broke");
    },
  };
  await assert.rejects(requestor.open());
  assert.equal(await running, "aborted");
  assert.ok(
    log.lines.some((l) => l.startsWith("error handling") && l.includes("status page broke")),
    log.lines.join("\n"),
  );
});

/** Reads the whole dataset, then answers success. */
const sink: DimseService = {
  name: "sink",
  commandFields: [CommandField.CStoreRq],
  *syntaxes() {
    yield { abstractSyntax: VERIFICATION, acceptsTransferSyntax: () => true };
  },
  async handle(req, ctx) {
    for await (const _ of req.dataset!) { /* consumed */ }
    if (req.dataset!.cancelled) return;
    await ctx.send({
      commandField: CommandField.CStoreRsp,
      commandDataSetType: NO_DATASET,
      messageIdBeingRespondedTo: req.command.messageId,
      status: 0,
    });
  },
};

const STORE_RQ = {
  commandField: CommandField.CStoreRq,
  commandDataSetType: 0,
  affectedSopClassUid: VERIFICATION,
  affectedSopInstanceUid: "1.2.3",
};

Deno.test("a peer that stalls in the middle of a dataset is aborted after the idle timeout", async () => {
  const { requestor, running, log } = setup({ services: [sink], acceptorIdleMs: 300 });
  await requestor.open();
  let stalled!: () => void;
  const stall = new Promise<void>((r) => (stalled = r));
  async function* partOfADataset() {
    yield new Uint8Array(40000).fill(7); // two full PDUs go out...
    await stall; // ...then nothing more, ever (until the test ends)
  }
  void requestor.request(1, STORE_RQ, partOfADataset()).catch(() => {});
  const t0 = performance.now();
  const end = await Promise.race([
    running,
    new Promise<"still open">((r) => setTimeout(() => r("still open"), 3000)),
  ]);
  stalled();
  assert.equal(end, "aborted", "the stalled store no longer holds its association");
  assert.ok(performance.now() - t0 >= 250, "not before the idle timeout");
  const line = log.lines.find((l) => l.includes("peer sent nothing"));
  assert.ok(line, log.lines.join("\n"));
  assert.match(line, /^warn .*C-STORE-RQ dataset: aborting.*"peer":"SCU@mem:a"/);
  await requestor.abort();
});

Deno.test("a slow but moving dataset is not taken for a stalled peer", async () => {
  const { requestor, running } = setup({ services: [sink], acceptorIdleMs: 300 });
  await requestor.open();
  async function* slowly() {
    for (let i = 0; i < 10; i++) {
      yield new Uint8Array(20000).fill(i); // at least one full PDU each time
      await new Promise((r) => setTimeout(r, 120)); // 1.2 s in all, each gap under 300 ms
    }
  }
  const rsp = await requestor.request(1, STORE_RQ, slowly());
  assert.equal(rsp.command.status, 0);
  await requestor.release();
  assert.equal(await running, "released");
});

Deno.test("a peer that disconnects before its response is a warning, not an error", async () => {
  const { acceptor, requestor, running, log } = setup();
  await requestor.open();
  // The peer is gone by the time the response goes out: the socket write fails.
  const conn = (acceptor as unknown as { options: { connection: { write(): Promise<void> } } })
    .options.connection;
  conn.write = () => Promise.reject(new Error("Connection reset by peer (os error 104)"));
  void requestor.request(1, {
    commandField: CommandField.CEchoRq,
    commandDataSetType: NO_DATASET,
    affectedSopClassUid: VERIFICATION,
  }).catch(() => {});
  await running;
  assert.ok(
    log.lines.some((l) => /^warn peer disconnected before the echo response/.test(l)),
    log.lines.join("\n"),
  );
  assert.deepEqual(log.lines.filter((l) => l.startsWith("error")), []);
  await requestor.abort();
});
