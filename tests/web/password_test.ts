// Password hashes of the web users: PBKDF2-SHA256, salted, verified in constant time.
import assert from "node:assert/strict";
import { constantTimeEqual, hashPassword, verifyPassword } from "../../src/web/password.ts";

const FORMAT = /^pbkdf2-sha256\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

Deno.test("hashPassword() output verifies with the same password only", async () => {
  const hash = await hashPassword("correct horse", 1000);
  const m = FORMAT.exec(hash);
  assert.ok(m, hash);
  assert.equal(m[1], "1000");
  assert.equal(atob(m[2]).length, 16, "16-byte salt");
  assert.equal(atob(m[3]).length, 32, "32-byte PBKDF2-SHA256 output");
  assert.equal(await verifyPassword("correct horse", hash), true);
  assert.equal(await verifyPassword("correct horsE", hash), false);
  assert.equal(await verifyPassword("", hash), false);
});

Deno.test("hashPassword() salts: the same password hashes differently each time", async () => {
  const [a, b] = [await hashPassword("pw", 1000), await hashPassword("pw", 1000)];
  assert.notEqual(a, b);
  assert.ok(await verifyPassword("pw", a) && await verifyPassword("pw", b));
});

Deno.test("hashPassword() defaults to 600000 iterations", async () => {
  assert.match(await hashPassword("pw"), /^pbkdf2-sha256\$600000\$/);
});

Deno.test("verifyPassword() is false for malformed or foreign hashes, never throws", async () => {
  const good = await hashPassword("pw", 1000);
  const [, iterations, salt, hash] = good.split("$");
  for (
    const bad of [
      "",
      "pw",
      "***",
      `pbkdf2-sha1$${iterations}$${salt}$${hash}`,
      `pbkdf2-sha256$0$${salt}$${hash}`,
      `pbkdf2-sha256$999999999$${salt}$${hash}`,
      `pbkdf2-sha256$${iterations}$!!$${hash}`,
      `pbkdf2-sha256$${iterations}$${salt}$`,
      `pbkdf2-sha256$${iterations}$${salt}$${hash}$extra`,
      "$2b$12$abcdefghijklmnopqrstuuJ3Z1qXk3vM7aH1b1nC3S6cD4mJ4qG.e", // bcrypt
    ]
  ) {
    assert.equal(await verifyPassword("pw", bad), false, bad);
  }
  // A different iteration count with the same salt and hash no longer matches.
  assert.equal(await verifyPassword("pw", `pbkdf2-sha256$1001$${salt}$${hash}`), false);
});

Deno.test("constantTimeEqual() compares contents and lengths", () => {
  const a = new Uint8Array([1, 2, 3]);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3])), true);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 4])), false);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2])), false);
  assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3, 0])), false);
});
