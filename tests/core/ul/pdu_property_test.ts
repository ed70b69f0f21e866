// Property test of the PDU codec: every PDU type, with random contents and sizes (1-128
// presentation contexts, role selection, user identity, extended negotiation, long UIDs),
// encodes and decodes back to the same value, and re-encodes to the same bytes.
// PROPERTY_ITERATIONS and PROPERTY_SEED override the defaults; the seed is printed to replay.

import assert from "node:assert/strict";
import { decodePdu } from "../../../src/core/ul/pdu_decode.ts";
import { encodePdu } from "../../../src/core/ul/pdu_encode.ts";
import { PduReader } from "../../../src/core/ul/pdu_reader.ts";
import {
  type AAssociateAc,
  type AAssociateRq,
  type PcResult,
  type Pdu,
  PduType,
  type UserInformation,
} from "../../../src/core/ul/pdu_types.ts";
import { mulberry32 } from "../../helpers/random.ts";

const ITERATIONS = Number(Deno.env.get("PROPERTY_ITERATIONS") ?? 3000);
const SEED = Number(Deno.env.get("PROPERTY_SEED") ?? 0x3243f6a8) >>> 0;

class Gen {
  constructor(readonly random: () => number) {}

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  bool(): boolean {
    return this.random() < 0.5;
  }

  /** A UID of 1..64 characters (a quarter of them 60 or more: long UIDs are where lengths go wrong). */
  uid(): string {
    const length = this.random() < 0.25 ? this.int(60, 64) : this.int(1, 64);
    let s = String(this.int(1, 9));
    while (s.length < length) {
      s += s.endsWith(".") || s.length === length - 1 || this.random() < 0.8
        ? String(this.int(0, 9))
        : ".";
    }
    return s;
  }

  /** 1..16 printable characters, no leading or trailing space (those are not significant). */
  aeTitle(): string {
    const n = this.int(1, 16);
    let s = "";
    for (let i = 0; i < n; i++) {
      const inner = i > 0 && i < n - 1;
      s += String.fromCharCode(inner && this.random() < 0.1 ? 0x20 : this.int(0x21, 0x7e));
    }
    return s;
  }

  bytes(max: number): Uint8Array {
    const b = new Uint8Array(this.int(0, max));
    for (let i = 0; i < b.length; i++) b[i] = this.int(0, 255);
    return b;
  }

  /** Odd presentation context ids, distinct, n of them (n <= 128). */
  contextIds(n: number): number[] {
    const all = Array.from({ length: 128 }, (_, k) => 2 * k + 1);
    for (let i = all.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [all[i], all[j]] = [all[j], all[i]];
    }
    return all.slice(0, n);
  }

  /** Mostly a few contexts, sometimes many, sometimes the full 128. */
  contextCount(): number {
    const r = this.random();
    return r < 0.5 ? this.int(1, 8) : r < 0.9 ? this.int(9, 127) : 128;
  }

  userInformation(kind: "rq" | "ac", contexts: number): UserInformation {
    const ui: UserInformation = {
      maxLength: this.random() < 0.1 ? 0 : this.int(0, 0xffffffff),
      implementationClassUid: this.random() < 0.1 ? "" : this.uid(),
      roleSelections: [],
      extendedNegotiations: [],
      commonExtendedNegotiations: [],
      unknown: [],
    };
    if (this.bool()) ui.implementationVersionName = this.aeTitle().replaceAll(" ", "_");
    if (this.bool()) {
      ui.asyncOpsWindow = { maxInvoked: this.int(0, 0xffff), maxPerformed: this.int(0, 0xffff) };
    }
    // Role selection: up to one per context (a C-GET proposing 128 storage classes).
    const roles = this.random() < 0.4 ? contexts : this.int(0, Math.min(contexts, 8));
    for (let i = 0; i < roles; i++) {
      ui.roleSelections.push({
        sopClassUid: this.uid(),
        scuRole: this.bool(),
        scpRole: this.bool(),
      });
    }
    for (let i = this.int(0, 3); i > 0; i--) {
      ui.extendedNegotiations.push({ sopClassUid: this.uid(), info: this.bytes(40) });
    }
    for (let i = this.int(0, 3); i > 0; i--) {
      ui.commonExtendedNegotiations.push({
        sopClassUid: this.uid(),
        serviceClassUid: this.uid(),
        relatedGeneralSopClassUids: Array.from({ length: this.int(0, 4) }, () => this.uid()),
      });
    }
    if (kind === "rq" && this.bool()) {
      ui.userIdentityRq = {
        type: this.int(1, 5),
        positiveResponseRequested: this.bool(),
        primaryField: this.bytes(this.random() < 0.1 ? 4000 : 64),
        secondaryField: this.bytes(64),
      };
    }
    if (kind === "ac" && this.bool()) {
      ui.userIdentityAc = this.bytes(this.random() < 0.1 ? 3000 : 64);
    }
    for (let i = this.int(0, 2); i > 0; i--) {
      ui.unknown.push({ type: this.int(0x5a, 0xff), data: this.bytes(30) });
    }
    return ui;
  }

  associateRq(): AAssociateRq {
    const n = this.contextCount();
    return {
      type: PduType.AAssociateRq,
      protocolVersion: this.random() < 0.9 ? 1 : this.int(0, 0xffff),
      calledAeTitle: this.aeTitle(),
      callingAeTitle: this.aeTitle(),
      applicationContext: this.random() < 0.9 ? "1.2.840.10008.3.1.1.1" : this.uid(),
      presentationContexts: this.contextIds(n).map((id) => ({
        id,
        abstractSyntax: this.uid(),
        transferSyntaxes: Array.from({ length: this.int(1, 6) }, () => this.uid()),
      })),
      userInformation: this.userInformation("rq", n),
    };
  }

  associateAc(): AAssociateAc {
    const n = this.contextCount();
    return {
      type: PduType.AAssociateAc,
      protocolVersion: this.random() < 0.9 ? 1 : this.int(0, 0xffff),
      calledAeTitle: this.aeTitle(),
      callingAeTitle: this.aeTitle(),
      applicationContext: this.random() < 0.9 ? "1.2.840.10008.3.1.1.1" : this.uid(),
      presentationContexts: this.contextIds(n).map((id) => {
        const result = this.int(0, 4) as PcResult;
        return { id, result, transferSyntax: result === 0 || this.bool() ? this.uid() : "" };
      }),
      userInformation: this.userInformation("ac", n),
    };
  }

  pdu(): Pdu {
    switch (this.int(0, 6)) {
      case 0:
        return this.associateRq();
      case 1:
        return this.associateAc();
      case 2:
        return {
          type: PduType.AAssociateRj,
          result: this.int(0, 255),
          source: this.int(0, 255),
          reason: this.int(0, 255),
        };
      case 3: {
        const pdvs = Array.from({ length: this.int(1, 5) }, () => ({
          presentationContextId: 2 * this.int(0, 127) + 1,
          isCommand: this.bool(),
          isLast: this.bool(),
          data: this.bytes(this.random() < 0.1 ? 70000 : 300),
        }));
        return { type: PduType.PDataTf, pdvs };
      }
      case 4:
        return { type: PduType.AReleaseRq };
      case 5:
        return { type: PduType.AReleaseRp };
      default:
        return { type: PduType.AAbort, source: this.int(0, 255), reason: this.int(0, 255) };
    }
  }
}

function describe(pdu: Pdu): string {
  if (pdu.type === PduType.AAssociateRq || pdu.type === PduType.AAssociateAc) {
    const ui = pdu.userInformation;
    return `type ${pdu.type}, ${pdu.presentationContexts.length} contexts, ` +
      `${ui.roleSelections.length} role items`;
  }
  return `type ${pdu.type}`;
}

Deno.test(`encodePdu() then decodePdu() gives back each of ${ITERATIONS} random PDUs of every type`, () => {
  console.log(`pdu property: seed=${SEED} pdus=${ITERATIONS}`);
  const g = new Gen(mulberry32(SEED));
  const seen = new Set<number>();
  let largeAssociate = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const pdu = g.pdu();
    seen.add(pdu.type);
    try {
      const bytes = encodePdu(pdu);
      assert.deepStrictEqual(decodePdu(bytes), pdu);
      assert.deepStrictEqual(encodePdu(decodePdu(bytes)), bytes, "re-encoded to the same bytes");
      // The same bytes through the streaming reader, cut in two anywhere.
      const reader = new PduReader(0);
      const cut = g.int(0, bytes.length);
      reader.push(bytes.slice(0, cut));
      reader.push(bytes.slice(cut));
      assert.deepStrictEqual(reader.next(), pdu);
      if (pdu.type <= PduType.AAssociateAc && bytes.length > 512) largeAssociate++;
    } catch (e) {
      throw new Error(`PDU #${i} (seed=${SEED}, ${describe(pdu)}): ${e}`, { cause: e });
    }
  }
  assert.equal(seen.size, 7, "every PDU type was generated");
  assert.ok(largeAssociate > ITERATIONS / 10, `${largeAssociate} associate PDUs over 512 bytes`);
});

Deno.test("an A-ASSOCIATE-AC for 128 contexts with a role item each decodes to what was encoded", () => {
  // The shape of a C-GET acceptance: each context accepted, each class's SCP role granted.
  const g = new Gen(mulberry32(1));
  const classes = Array.from({ length: 128 }, () => g.uid());
  const ac: AAssociateAc = {
    type: PduType.AAssociateAc,
    protocolVersion: 1,
    calledAeTitle: "MINIPACS",
    callingAeTitle: "GETSCU",
    applicationContext: "1.2.840.10008.3.1.1.1",
    presentationContexts: classes.map((_, k) => ({
      id: 2 * k + 1,
      result: 0 as PcResult,
      transferSyntax: "1.2.840.10008.1.2",
    })),
    userInformation: {
      maxLength: 16384,
      implementationClassUid: "1.2.276.0.7230010.3.0.3.6.4",
      implementationVersionName: "MINIPACS_2_0",
      roleSelections: classes.map((uid) => ({ sopClassUid: uid, scuRole: false, scpRole: true })),
      extendedNegotiations: [],
      commonExtendedNegotiations: [],
      unknown: [],
    },
  };
  for (let n = 1; n <= 128; n++) {
    const part: AAssociateAc = {
      ...ac,
      presentationContexts: ac.presentationContexts.slice(0, n),
      userInformation: {
        ...ac.userInformation,
        roleSelections: ac.userInformation.roleSelections.slice(0, n),
      },
    };
    assert.deepStrictEqual(decodePdu(encodePdu(part)), part, `${n} contexts`);
  }
});
