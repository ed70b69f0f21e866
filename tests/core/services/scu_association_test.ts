// The SCU's association set-up in words: every A-ASSOCIATE-RJ reason of PS3.8 9.3.4, and a
// deadline that turns a silent peer into an error instead of a hang.
import assert from "node:assert/strict";
import { describeRejection, withTimeout } from "../../../src/core/services/scu_association.ts";
import {
  PduType,
  RejectReason,
  RejectResult,
  RejectSource,
} from "../../../src/core/ul/pdu_types.ts";
import { AssociationRejectedError } from "../../../src/core/ul/requestor.ts";

const rejected = (result: number, source: number, reason: number) =>
  describeRejection(
    new AssociationRejectedError({ type: PduType.AAssociateRj, result, source, reason }),
  );

Deno.test("describeRejection() names each PS3.8 9.3.4 reason and whether it is transient", () => {
  const { Permanent, Transient } = RejectResult;
  const { ServiceUser, ServiceProviderAcse, ServiceProviderPresentation } = RejectSource;
  assert.equal(
    rejected(Permanent, ServiceUser, RejectReason.CalledAeNotRecognized),
    "called AE title not recognized (permanent)",
  );
  assert.equal(
    rejected(Permanent, ServiceUser, RejectReason.CallingAeNotRecognized),
    "calling AE title not recognized (permanent)",
  );
  assert.equal(
    rejected(Permanent, ServiceUser, RejectReason.ApplicationContextNotSupported),
    "application context not supported (permanent)",
  );
  assert.equal(
    rejected(Permanent, ServiceUser, RejectReason.NoReasonGiven),
    "no reason given (permanent)",
  );
  assert.equal(
    rejected(Permanent, ServiceProviderAcse, RejectReason.ProtocolVersionNotSupported),
    "protocol version not supported (permanent)",
  );
  assert.equal(
    rejected(Transient, ServiceProviderPresentation, RejectReason.LocalLimitExceeded),
    "local limit exceeded (too many associations) (transient)",
  );
  assert.equal(
    rejected(Transient, ServiceProviderPresentation, RejectReason.TemporaryCongestion),
    "temporary congestion (transient)",
  );
});

Deno.test("withTimeout() passes a prompt answer on and turns silence into an error", async () => {
  assert.equal(await withTimeout(Promise.resolve(7), 1000, "step"), 7);
  const never = new Promise<never>(() => {});
  await assert.rejects(withTimeout(never, 20, "C-ECHO"), /C-ECHO: no answer within 0\.02 s/);
});
