// Rejected associations are counted under a few fixed labels, whatever the reason text says.
import assert from "node:assert/strict";
import { REJECT_REASONS, rejectReason } from "../../src/app/reject_reason.ts";

Deno.test("rejectReason() maps the negotiation's reasons to a few labels", () => {
  assert.equal(rejectReason(`called AE title "X" is not ours`), "called_ae");
  assert.equal(rejectReason("protocol version 2 not supported"), "protocol_version");
  assert.equal(rejectReason("application context 1.2 not supported"), "application_context");
  assert.equal(rejectReason("something new"), "other");
});

Deno.test("rejectReason() labels the limits and the calling AE, always one of REJECT_REASONS", () => {
  const why = [
    "too many associations (local limit exceeded)",
    'calling AE title "CT1" already has its max_incoming = 2 associations open (local limit exceeded)',
    'calling AE title "X" is not a known AE',
  ];
  assert.deepEqual(why.map(rejectReason), ["local_limit", "local_limit", "calling_ae"]);
  for (const w of why) assert.ok(REJECT_REASONS.includes(rejectReason(w)));
});
