// Admission counts associations, not TCP connections: pending connections (no whole
// A-ASSOCIATE-RQ yet) have their own budget and the oldest goes when it is full.
import assert from "node:assert/strict";
import { Admission, type AdmissionLimits } from "../../src/app/admission.ts";

const limits = (over: Partial<AdmissionLimits> = {}): AdmissionLimits => ({
  maxAssociations: 2,
  maxPendingConnections: 3,
  maxIncoming: new Map(),
  knownCallingAeTitles: undefined,
  ...over,
});

Deno.test("silent connections never count against max_associations", () => {
  const a = new Admission(limits());
  for (let i = 0; i < 3; i++) a.connected(`silent${i}`, () => {});
  a.connected("modality", () => {});
  assert.equal(a.requested("modality", "CT1").overLimit, false);
  a.accepted("modality", "CT1");
  a.connected("modality2", () => {});
  assert.equal(a.requested("modality2", "CT2").overLimit, false);
  a.accepted("modality2", "CT2");
  a.connected("third", () => {});
  assert.equal(
    a.requested("third", "CT3").overLimit,
    true,
    "the third association is one too many",
  );
  assert.equal(a.associations, 2);
});

Deno.test("the oldest pending connection is dropped when the pending budget is full", () => {
  const a = new Admission(limits({ maxPendingConnections: 2 }));
  const dropped: string[] = [];
  const drop = (id: string) => () => dropped.push(id);
  a.connected("1", drop("1"));
  a.connected("2", drop("2"));
  a.requested("2", "CT"); // no longer pending
  a.connected("3", drop("3"));
  assert.deepEqual(dropped, []);
  assert.deepEqual(a.connected("4", drop("4")), ["1"]);
  assert.deepEqual(dropped, ["1"]);
  assert.equal(a.pendingConnections, 2);
});

Deno.test("closed and aborted associations stop counting at once", () => {
  const a = new Admission(limits({ maxIncoming: new Map([["CT", 1]]) }));
  a.connected("1", () => {});
  a.requested("1", "CT ");
  a.accepted("1", "CT ");
  a.connected("2", () => {});
  assert.equal(a.requested("2", "CT").callingAeLimit, 1, "max_incoming reached for CT");
  a.closed("2"); // the rejected one
  a.closed("1");
  assert.equal(a.associations, 0);
  assert.equal(a.associationsFrom("CT"), 0);
  a.connected("3", () => {});
  const v = a.requested("3", "CT");
  assert.equal(v.overLimit, false);
  assert.equal(v.callingAeLimit, undefined);
  a.closed("3");
  a.closed("3"); // twice is harmless
  assert.equal(a.pendingConnections, 0);
});

Deno.test("new limits apply to the next request; accept = known passes the AE titles on", () => {
  const a = new Admission(limits());
  a.setLimits(limits({ maxAssociations: 1, knownCallingAeTitles: new Set(["CT"]) }));
  a.connected("1", () => {});
  a.accepted("1", "CT");
  a.connected("2", () => {});
  const v = a.requested("2", "MR");
  assert.equal(v.overLimit, true);
  assert.deepEqual([...v.knownCallingAeTitles!], ["CT"]);
});
