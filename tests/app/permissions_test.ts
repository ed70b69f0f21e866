// Permissions: who may do what from where, per A-ASSOCIATE-RQ, as `[server] accept` and the
// [[known_ae]] allow, hosts and tls_name entries say; a reload replaces the known list.
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG, type KnownAe } from "../../src/config.ts";
import { Permissions } from "../../src/app/permissions.ts";
import type { Connection } from "../../src/core/ports.ts";
import type { DimseService } from "../../src/core/dimse/service_contract.ts";
import { knownAe as known } from "../helpers/known_ae.ts";

const ECHO = "1.2.840.10008.1.1";
const CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2";
const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1";

/** Services that only name their abstract syntaxes: what Permissions reads of them. */
function service(name: string, uid: string): DimseService {
  return {
    name,
    commandFields: [],
    syntaxes: () => [{ abstractSyntax: uid, acceptsTransferSyntax: () => true }],
    handle: () => Promise.resolve(),
  } as unknown as DimseService;
}

const SERVICES = [service("echo", ECHO), service("store", CT_STORAGE), service("find", STUDY_FIND)];

function config(accept: Config["server"]["accept"], knownAe: KnownAe[] = []): Config {
  return { ...DEFAULT_CONFIG, server: { ...DEFAULT_CONFIG.server, accept }, knownAe };
}

function from(remote: string): Connection {
  return { remote, read: () => Promise.resolve(null), write: () => Promise.resolve(), close() {} };
}

Deno.test('accept = "store": a stranger may echo and store but not find; a known AE may find', () => {
  const p = new Permissions(config("store", [known("VIEWER")]), SERVICES);
  const stranger = p.policyFor("MODALITY", from("10.0.0.5:4000"));
  assert.equal(stranger.callerRefused, undefined);
  assert.equal(stranger.refusedService?.(ECHO), undefined);
  assert.equal(stranger.refusedService?.(CT_STORAGE), undefined);
  assert.equal(stranger.refusedService?.(STUDY_FIND), "find");
  const viewer = p.policyFor("VIEWER", from("10.0.0.6:4000"));
  assert.equal(viewer.refusedService, undefined, "a known AE without allow may use everything");
});

Deno.test('accept = "any": a stranger may use every service', () => {
  const p = new Permissions(config("any"), SERVICES);
  assert.equal(p.policyFor("ANYONE", from("10.0.0.5:4000")).refusedService, undefined);
});

Deno.test("a known AE's allow list limits it to those services", () => {
  const p = new Permissions(config("any", [known("PUSHER", { allow: ["store"] })]), SERVICES);
  const policy = p.policyFor("PUSHER", from("10.0.0.5:4000"));
  assert.equal(policy.refusedService?.(CT_STORAGE), undefined);
  assert.equal(policy.refusedService?.(ECHO), "echo");
  assert.equal(policy.refusedService?.(STUDY_FIND), "find");
  // A context of an abstract syntax no service has is left to negotiation.
  assert.equal(policy.refusedService?.("1.2.3.4"), undefined);
});

Deno.test("a known AE with hosts is refused from another address, with the reason", () => {
  const p = new Permissions(config("any", [known("CT1", { hosts: ["10.0.1.0/24"] })]), SERVICES);
  assert.equal(p.policyFor("CT1", from("10.0.1.7:5000")).callerRefused, undefined);
  assert.match(p.policyFor("CT1", from("10.0.2.7:5000")).callerRefused!, /not accepted from/);
  // The calling AE title is compared trimmed, as it arrives padded on the wire.
  assert.match(p.policyFor("CT1 ", from("10.0.2.7:5000")).callerRefused!, /CT1/);
});

Deno.test("a known AE with tls_name is refused over plain TCP", () => {
  const p = new Permissions(config("any", [known("SECURE", { tlsName: "ct.example" })]), SERVICES);
  assert.match(p.policyFor("SECURE", from("10.0.0.5:4000")).callerRefused!, /only over TLS/);
});

Deno.test("setKnownAe() applies a reloaded [[known_ae]] list to the next requests", () => {
  const p = new Permissions(config("store"), SERVICES);
  assert.equal(p.policyFor("NEWCOMER", from("10.0.0.5:4000")).refusedService?.(STUDY_FIND), "find");
  p.setKnownAe(config("store", [known("NEWCOMER")]));
  assert.equal(p.policyFor("NEWCOMER", from("10.0.0.5:4000")).refusedService, undefined);
});

Deno.test('allow = ["commit"] permits Storage Commitment, whose service is named "commitment"', () => {
  const COMMITMENT = "1.2.840.10008.1.20.1";
  const services = [...SERVICES, service("commitment", COMMITMENT)];
  const p = new Permissions(config("any", [known("ARCHIVE", { allow: ["commit"] })]), services);
  const policy = p.policyFor("ARCHIVE", from("10.0.0.5:4000"));
  assert.equal(policy.refusedService?.(COMMITMENT), undefined);
  assert.equal(policy.refusedService?.(CT_STORAGE), "store");
  const storer = new Permissions(config("any", [known("CT1", { allow: ["store"] })]), services);
  assert.equal(
    storer.policyFor("CT1", from("10.0.0.5:4000")).refusedService?.(COMMITMENT),
    "commit",
  );
});
