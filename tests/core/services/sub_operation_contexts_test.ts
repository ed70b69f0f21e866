// The presentation contexts of C-STORE sub-operations: what a sub-association proposes, which
// accepted context carries each object, and the reason when none does.
import assert from "node:assert/strict";
import {
  chooseContext,
  MAX_CONTEXTS,
  noContextReason,
  proposeContexts,
} from "../../../src/core/services/sub_operation_contexts.ts";
import type { AcceptedContext } from "../../../src/core/ul/negotiation.ts";
import { CT, ELE, ILE, JPEG, MR } from "./retrieve_fixtures.ts";

const EBE = "1.2.840.10008.1.2.2";

Deno.test("proposeContexts(): each stored syntax alone, then Explicit + Implicit VR LE per class", () => {
  const few = proposeContexts([
    { sopInstanceUid: "1", sopClassUid: CT, transferSyntaxUid: JPEG },
    { sopInstanceUid: "2", sopClassUid: CT, transferSyntaxUid: ELE },
    { sopInstanceUid: "3", sopClassUid: MR, transferSyntaxUid: ILE },
  ]);
  assert.deepEqual(few.map((c) => [c.id, c.abstractSyntax, c.transferSyntaxes]), [
    [1, CT, [JPEG]],
    [3, CT, [ELE]],
    [5, MR, [ILE]],
    [7, CT, [ELE, ILE]],
    [9, MR, [ELE, ILE]],
  ]);
  // 90 classes: 90 stored-syntax contexts, then the fallbacks of the first 38 classes.
  const ninety = proposeContexts(
    Array.from({ length: 90 }, (_, i) => ({
      sopInstanceUid: String(i),
      sopClassUid: `1.2.3.${i}`,
      transferSyntaxUid: i % 2 ? ILE : EBE,
    })),
  );
  assert.equal(ninety.length, MAX_CONTEXTS);
  assert.ok(ninety.slice(0, 90).every((c) => c.transferSyntaxes.length === 1));
  assert.ok(ninety.slice(90).every((c) => c.transferSyntaxes.join() === [ELE, ILE].join()));
  const many = proposeContexts(
    Array.from({ length: 300 }, (_, i) => ({
      sopInstanceUid: String(i),
      sopClassUid: `1.2.3.${i}`,
      transferSyntaxUid: ELE,
    })),
  );
  assert.equal(many.length, MAX_CONTEXTS);
  assert.equal(many.at(-1)!.id, 255);
  assert.ok(many.every((c) => c.transferSyntaxes.length === 1), "stored-syntax contexts first");
});

/** Accepts each proposed context the way a destination does, given its choice rule. */
function acceptAs(
  proposals: ReturnType<typeof proposeContexts>,
  pick: (proposed: string[]) => string | undefined,
): AcceptedContext[] {
  const out: AcceptedContext[] = [];
  for (const p of proposals) {
    const ts = pick(p.transferSyntaxes);
    if (!ts) continue;
    out.push({
      id: p.id,
      abstractSyntax: p.abstractSyntax,
      transferSyntax: ts,
      requestorIsScu: true,
      requestorIsScp: false,
    });
  }
  return out;
}

Deno.test("chooseContext(): every object goes in its stored syntax wherever the destination takes it", () => {
  const targets = [ILE, EBE, JPEG, ELE].map((ts, i) => ({
    sopInstanceUid: String(i),
    sopClassUid: CT,
    transferSyntaxUid: ts,
  }));
  const proposals = proposeContexts(targets);
  // Like storescp +xa and Orthanc: takes everything, prefers Explicit VR LE within a context.
  const prefersExplicit = acceptAs(proposals, (p) => p.includes(ELE) ? ELE : p[0]);
  for (const t of targets) {
    const c = chooseContext(prefersExplicit, CT, t.transferSyntaxUid);
    assert.equal(c?.transcode, false, t.transferSyntaxUid);
    assert.equal(c?.context.transferSyntax, t.transferSyntaxUid);
  }
  // Like the dcmjs-dimse README's SCP: looks at the first syntax of a context only, takes no
  // Big Endian: the Big Endian object goes re-encoded on the fallback context.
  const firstOnly = acceptAs(proposals, (p) => [ILE, ELE, JPEG].includes(p[0]) ? p[0] : undefined);
  const be = chooseContext(firstOnly, CT, EBE);
  assert.equal(be?.transcode, true);
  assert.equal(be?.context.transferSyntax, ELE);
  // Implicit VR LE only (storescp +xi): uncompressed ones re-encoded, the JPEG one decoded;
  // a video syntax (no decoder) fails and the reason says what was accepted and what is missing.
  const implicitOnly = acceptAs(proposals, (p) => p.includes(ILE) ? ILE : undefined);
  assert.equal(chooseContext(implicitOnly, CT, EBE)?.context.transferSyntax, ILE);
  const decoded = chooseContext(implicitOnly, CT, JPEG);
  assert.deepEqual([decoded?.transcode, decoded?.context.transferSyntax], [true, ILE]);
  const MPEG4 = "1.2.840.10008.1.2.4.102";
  assert.equal(chooseContext(implicitOnly, CT, MPEG4), null);
  assert.match(
    noContextReason(implicitOnly, CT, MPEG4),
    /^the destination accepted only Implicit VR Little Endian for CT Image Storage; no decoder for MPEG-4/,
  );

  assert.match(noContextReason([], MR, ELE), /no presentation context for MR Image Storage/);
});

Deno.test("chooseContext(): an object compressed at rest goes back in the syntax it was received in", () => {
  const JPEG_LS = "1.2.840.10008.1.2.4.80";
  const ctx = (id: number, ts: string): AcceptedContext => ({
    id,
    abstractSyntax: CT,
    transferSyntax: ts,
    requestorIsScu: true,
    requestorIsScp: false,
  });
  // Received in Implicit VR LE, its home file in JPEG-LS: a C-GET peer that takes all three.
  const all = [ctx(1, JPEG_LS), ctx(3, ELE), ctx(5, ILE)];
  const back = chooseContext(all, CT, JPEG_LS, ILE);
  assert.deepEqual([back?.context.id, back?.transcode], [5, true], "decoded to Implicit VR LE");
  // No Implicit VR LE: decoded to Explicit VR LE rather than sent compressed.
  const explicit = chooseContext([ctx(1, JPEG_LS), ctx(3, ELE)], CT, JPEG_LS, ILE);
  assert.deepEqual([explicit?.context.id, explicit?.transcode], [3, true]);
  // Only the compressed syntax: the file goes as it is.
  const stored = chooseContext([ctx(1, JPEG_LS)], CT, JPEG_LS, ILE);
  assert.deepEqual([stored?.context.id, stored?.transcode], [1, false]);
});
