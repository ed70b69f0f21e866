import assert from "node:assert/strict";
import {
  addressInBlock,
  hostOf,
  parseAddressBlock,
} from "../../../src/core/security/address_match.ts";

const inBlock = (addr: string, block: string) => addressInBlock(addr, parseAddressBlock(block)!);

Deno.test("addressInBlock() matches single IPv4 addresses and CIDR blocks", () => {
  assert.ok(inBlock("10.0.0.21", "10.0.0.21"));
  assert.ok(!inBlock("10.0.0.22", "10.0.0.21"));
  assert.ok(inBlock("10.0.1.200", "10.0.1.0/24"));
  assert.ok(!inBlock("10.0.2.1", "10.0.1.0/24"));
  assert.ok(inBlock("172.16.5.4", "172.16.0.0/12"));
  assert.ok(!inBlock("172.32.0.1", "172.16.0.0/12"));
  assert.ok(inBlock("1.2.3.4", "0.0.0.0/0"));
});

Deno.test("addressInBlock() matches IPv6 and IPv4-mapped peers", () => {
  assert.ok(inBlock("::1", "::1"));
  assert.ok(inBlock("fd00::5", "fd00::/8"));
  assert.ok(!inBlock("fe80::1", "fd00::/8"));
  assert.ok(inBlock("::ffff:10.0.0.21", "10.0.0.0/24"));
  assert.ok(!inBlock("::1", "127.0.0.1"));
});

Deno.test("parseAddressBlock() refuses what is not an address or block", () => {
  for (const bad of ["10.0.0", "10.0.0.256", "10.0.0.1/33", "host.example", "1::2::3", "a/b/c"]) {
    assert.equal(parseAddressBlock(bad), null, bad);
  }
});

Deno.test("hostOf() takes the address out of a connection's remote", () => {
  assert.equal(hostOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(hostOf("[::1]:5000"), "::1");
  assert.equal(hostOf("::1:5000"), "::1");
});
