// Seeded fuzzing of the association state machine: random sequences of valid, mutated and
// out-of-order PDUs in random chunkings. Every session must end (the acceptor closes)
// without an uncaught exception; the seed is printed to replay a run.
import assert from "node:assert/strict";
import { encodeCommand } from "../../../src/core/dimse/command.ts";
import { VerificationService } from "../../../src/core/services/echo_scp.ts";
import { AcceptorAssociation } from "../../../src/core/ul/acceptor.ts";
import type { SupportedSyntax } from "../../../src/core/ul/negotiation.ts";
import { encodePdu } from "../../../src/core/ul/pdu_encode.ts";
import { PduType } from "../../../src/core/ul/pdu_types.ts";
import { memoryConnectionPair } from "../../helpers/memory_connection.ts";
import { associateRj, echoscuAssociateAc, echoscuAssociateRq } from "./pdu_fixtures.ts";
import { mulberry32 } from "../../helpers/random.ts";

// FUZZ_ITERATIONS (as the PDU fuzz test reads it) or FUZZ_SESSIONS: sessions to run.
const SESSIONS = Number(
  Deno.env.get("FUZZ_ITERATIONS") ?? Deno.env.get("FUZZ_SESSIONS") ?? 1000,
);
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed1234) >>> 0;

const echoCommand = encodeCommand({
  commandField: 0x0030,
  commandDataSetType: 0x0101,
  messageId: 1,
  affectedSopClassUid: "1.2.840.10008.1.1",
});
const pool: Uint8Array[] = [
  echoscuAssociateRq,
  echoscuAssociateAc,
  associateRj,
  encodePdu({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: echoCommand }],
  }),
  encodePdu({
    type: PduType.PDataTf,
    pdvs: [{ presentationContextId: 1, isCommand: false, isLast: true, data: new Uint8Array(8) }],
  }),
  encodePdu({
    type: PduType.PDataTf,
    pdvs: [{
      presentationContextId: 1,
      isCommand: true,
      isLast: false,
      data: echoCommand.subarray(0, 10),
    }],
  }),
  encodePdu({ type: PduType.AReleaseRq }),
  encodePdu({ type: PduType.AReleaseRp }),
  encodePdu({ type: PduType.AAbort, source: 0, reason: 0 }),
];

Deno.test(`association fuzz: ${SESSIONS} random PDU sequences all end cleanly`, async () => {
  const random = mulberry32(SEED);
  const int = (n: number) => Math.floor(random() * n);
  const syntaxes = new Map<string, SupportedSyntax>();
  for (const s of new VerificationService().syntaxes()) syntaxes.set(s.abstractSyntax, s);
  const ends = new Map<string, number>();
  for (let i = 0; i < SESSIONS; i++) {
    const [server, client] = memoryConnectionPair();
    const assoc = new AcceptorAssociation({
      id: String(i),
      connection: server,
      logger: { log() {} },
      artimTimeoutMs: 50,
      idleTimeoutMs: 100, // a silent established peer is dropped, so every session ends
      maxPduLength: 16384,
      services: [new VerificationService()],
      policy: () => ({
        aeTitle: "ANY-SCP",
        checkCalledAe: false,
        maxPduLength: 16384,
        implementationClassUid: "1.2.3",
        implementationVersionName: "FUZZ",
        syntaxes,
      }),
    });
    const done = assoc.run();
    // Usually start with a valid A-ASSOCIATE-RQ so the later states are reached too.
    const parts: Uint8Array[] = random() < 0.8 ? [echoscuAssociateRq] : [];
    for (let n = 1 + int(5); n > 0; n--) {
      const b = pool[int(pool.length)].slice();
      const r = random();
      if (r < 0.3) b[int(b.length)] ^= 1 << int(8);
      else if (r < 0.4) parts.push(b.subarray(0, int(b.length)));
      else if (r < 0.45) new DataView(b.buffer).setUint32(2, int(0x10000));
      if (r >= 0.3 && r < 0.4) continue;
      parts.push(b);
    }
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (stream.set(p, at), at += p.length);
    for (let off = 0; off < stream.length;) {
      const len = 1 + int(200);
      await client.write(stream.subarray(off, off + len)).catch(() => {});
      off += len;
    }
    if (random() < 0.5) client.close();
    const outcome = await Promise.race([
      done,
      new Promise<string>((r) => setTimeout(() => r("hang"), 2000)),
    ]);
    client.close();
    assert.notEqual(outcome, "hang", `session ${i} (seed ${SEED}) did not end`);
    ends.set(String(outcome), (ends.get(String(outcome)) ?? 0) + 1);
    assert.equal(assoc.state, 1, `session ${i} ended outside Sta1`);
  }
  console.log(
    `association fuzz: seed=${SEED} sessions=${SESSIONS} ends=${
      JSON.stringify(Object.fromEntries(ends))
    }`,
  );
  assert.ok((ends.get("released") ?? 0) + (ends.get("aborted") ?? 0) > SESSIONS / 10);
});
