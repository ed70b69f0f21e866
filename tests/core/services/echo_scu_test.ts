// The echo SCU against our own echo SCP over an in-memory connection: Success with both
// times, a rejection in words, a peer without the Verification SOP Class, and a refused
// connection, each reported without throwing.
import assert from "node:assert/strict";
import { Status } from "../../../src/core/dimse/status.ts";
import type { Connector, Logger } from "../../../src/core/ports.ts";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import { echoScu } from "../../../src/core/services/echo_scu.ts";
import type { DimseService } from "../../../src/core/dimse/service_contract.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import type { SupportedSyntax } from "../../../src/core/ul/negotiation.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";

const quiet: Logger = { log() {} };
const identity = {
  maxPduLength: 16384,
  implementationClassUid: "1.2.3",
  implementationVersionName: "TEST",
};

/** A connector whose one connection reaches an acceptor offering `services`. */
function acceptorConnector(services: DimseService[], aeTitle = "PACS") {
  const syntaxes = new Map<string, SupportedSyntax>();
  for (const s of services) for (const x of s.syntaxes()) syntaxes.set(x.abstractSyntax, x);
  let running: Promise<unknown> = Promise.resolve();
  const connector: Connector = {
    connect() {
      const [a, b] = memoryConnectionPair();
      running = new AcceptorAssociation({
        id: "1",
        connection: a,
        logger: quiet,
        artimTimeoutMs: 1000,
        idleTimeoutMs: 0,
        maxPduLength: 16384,
        services,
        policy: () => ({
          aeTitle,
          checkCalledAe: true,
          maxPduLength: 16384,
          implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
          implementationVersionName: "MINIPACS_2_0",
          syntaxes,
        }),
      }).run();
      return Promise.resolve(b);
    },
  };
  return { connector, ended: () => running };
}

const echo = (connector: Connector, calledAe = "PACS") =>
  echoScu({
    connector,
    peer: { aeTitle: calledAe, host: "127.0.0.1", port: 104 },
    callingAeTitle: "SCU",
    identity,
    timeoutMs: 2000,
    logger: quiet,
  });

Deno.test("echoScu() gets Success with both times and releases the association", async () => {
  const peer = acceptorConnector([new VerificationService()]);
  const r = await echo(peer.connector);
  assert.equal(r.ok, true);
  assert.equal(r.status, Status.Success);
  assert.match(r.message, /^0x0000/);
  assert.ok(r.roundTripMs !== null && r.roundTripMs >= 0);
  assert.ok(r.setupMs !== null && r.setupMs >= 0);
  assert.equal(await peer.ended(), "released");
});

Deno.test("echoScu() reports a rejection in the standard's words", async () => {
  const peer = acceptorConnector([new VerificationService()]);
  const r = await echo(peer.connector, "OTHER");
  assert.equal(r.ok, false);
  assert.equal(r.status, null);
  assert.match(r.message, /OTHER@127\.0\.0\.1:104 rejected .*called AE title not recognized/);
});

Deno.test("echoScu() reports a peer that does not accept the Verification SOP Class", async () => {
  const none: DimseService = {
    name: "none",
    commandFields: [],
    *syntaxes() {
      yield { abstractSyntax: "1.2.3.999", acceptsTransferSyntax: () => true };
    },
    handle: () => Promise.resolve(),
  };
  const peer = acceptorConnector([none]);
  const r = await echo(peer.connector);
  assert.equal(r.ok, false);
  assert.match(r.message, /does not accept the Verification SOP Class/);
  assert.notEqual(r.setupMs, null);
});

Deno.test("echoScu() reports a refused connection", async () => {
  const refused: Connector = { connect: () => Promise.reject(new Error("connection refused")) };
  const r = await echo(refused);
  assert.deepEqual(
    { ok: r.ok, status: r.status, setupMs: r.setupMs },
    { ok: false, status: null, setupMs: null },
  );
  assert.equal(r.message, "cannot connect to PACS@127.0.0.1:104: connection refused");
});
