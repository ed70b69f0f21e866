import assert from "node:assert/strict";
import { callerRefusal } from "../../../src/core/security/caller_check.ts";
import { certificateNames, dnsNamesOf } from "../../../src/core/security/certificate_name.ts";
import type { TransportSecurity } from "../../../src/core/ports.ts";

const tls = (cn: string, san = ""): TransportSecurity => ({
  protocol: "TLSv1.3",
  cipher: "TLS_AES_128_GCM_SHA256",
  peer: { subject: `CN=${cn}`, commonName: cn, dnsNames: dnsNamesOf(san) },
});

Deno.test("dnsNamesOf() reads DNS entries of a subjectAltName, not IP ones", () => {
  assert.deepEqual(dnsNamesOf("DNS:a.example, IP Address:10.0.0.1, DNS:b.example"), [
    "a.example",
    "b.example",
  ]);
  assert.deepEqual(dnsNamesOf(undefined), []);
});

Deno.test("certificateNames() compares CN and DNS names without regard to case", () => {
  const id = { commonName: "CT1.example", dnsNames: ["ct-alt.example"] };
  assert.ok(certificateNames(id, "ct1.EXAMPLE"));
  assert.ok(certificateNames(id, "ct-alt.example"));
  assert.ok(!certificateNames(id, "ct1"));
  assert.ok(!certificateNames(id, ""));
});

Deno.test("callerRefusal(): tls_name needs TLS and a certificate of that name", () => {
  const rule = { aeTitle: "CT1", tlsName: "ct1.example" };
  assert.equal(callerRefusal(rule, "10.0.0.1:5000", tls("ct1.example")), null);
  assert.equal(callerRefusal(rule, "10.0.0.1:5000", tls("x", "DNS:ct1.example")), null);
  assert.match(callerRefusal(rule, "10.0.0.1:5000", undefined)!, /only over TLS/);
  assert.match(callerRefusal(rule, "10.0.0.1:5000", tls("mr1.example"))!, /mr1\.example/);
  assert.match(
    callerRefusal(rule, "10.0.0.1:5000", { protocol: "TLSv1.3", cipher: "" })!,
    /needs a client certificate/,
  );
  // Not a known AE, or one without rules: nothing to check.
  assert.equal(callerRefusal(undefined, "10.0.0.1:5000", undefined), null);
  assert.equal(callerRefusal({ aeTitle: "X" }, "10.0.0.1:5000", undefined), null);
});

Deno.test("callerRefusal(): hosts limits the addresses an AE title may call from", () => {
  const rule = { aeTitle: "CT1", hosts: ["10.0.0.21", "10.0.1.0/24"] };
  assert.equal(callerRefusal(rule, "10.0.0.21:4000", undefined), null);
  assert.equal(callerRefusal(rule, "10.0.1.9:4000", undefined), null);
  assert.match(callerRefusal(rule, "10.0.2.9:4000", undefined)!, /not accepted from 10\.0\.2\.9/);
});
