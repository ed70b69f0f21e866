// Who a peer certificate names: CN and DNS subjectAltNames, matched to [[known_ae]] tls_name
// without regard to case.
import assert from "node:assert/strict";
import { certificateNames, dnsNamesOf } from "../../../src/core/security/certificate_name.ts";

Deno.test("dnsNamesOf() keeps only the DNS entries of a subjectAltName", () => {
  assert.deepEqual(dnsNamesOf("DNS:a.example, IP Address:10.0.0.1, DNS:b.example"), [
    "a.example",
    "b.example",
  ]);
  assert.deepEqual(dnsNamesOf(undefined), []);
  assert.deepEqual(dnsNamesOf("IP Address:10.0.0.1"), []);
});

Deno.test("certificateNames() matches the CN or a DNS name, case-insensitively, never empty", () => {
  const id = { commonName: "CT1.Example", dnsNames: ["ct1-backup.example"] };
  assert.ok(certificateNames(id, "ct1.example"));
  assert.ok(certificateNames(id, "CT1-BACKUP.example"));
  assert.ok(!certificateNames(id, "ct2.example"));
  assert.ok(!certificateNames({ commonName: "", dnsNames: [] }, " "));
});
