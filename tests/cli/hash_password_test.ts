// `minipacs hash-password` and the hash format the web login checks with verifyPassword().
import assert from "node:assert/strict";
import { constantTimeEqual, hashPassword, verifyPassword } from "../../src/web/password.ts";
import { minipacs } from "./cli.ts";

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

Deno.test("hash-password reads the first line of stdin and prints one verifiable hash", async () => {
  const r = await minipacs(["hash-password", "--iterations", "2000"], {
    stdin: "s3cret pass\nsecond line\n",
  });
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.trim();
  assert.equal(r.stdout.split("\n").length, 2, "one line");
  assert.match(line, FORMAT);
  assert.ok(await verifyPassword("s3cret pass", line));
  assert.ok(!r.stdout.includes("s3cret"), "the password is not printed");
});

Deno.test("hash-password --password is for scripts; an empty password exits 2", async () => {
  const r = await minipacs(["hash-password", "--password", "pässwörd", "--iterations", "1000"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(await verifyPassword("pässwörd", r.stdout.trim()));
  const empty = await minipacs(["hash-password"], { stdin: "\n" });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /the password is empty/);
  const badCount = await minipacs(["hash-password", "--password", "x", "--iterations", "lots"]);
  assert.equal(badCount.code, 2);
  assert.match(badCount.stderr, /--iterations/);
});

/** `script` (util-linux) gives the command a pseudo-terminal, as a person typing would have. */
const hasScript = await Deno.stat("/usr/bin/script").then(() => true, () => false);
if (!hasScript) console.log("SKIP: /usr/bin/script (util-linux) missing: terminal prompt test");

/** Types each key once its prompt is on the screen; returns the exit code and the screen. */
async function typed(keys: [prompt: string, key: string][]) {
  const [deno, main] = [Deno.execPath(), new URL("../../src/main.ts", import.meta.url).pathname];
  const child = new Deno.Command("script", {
    args: ["-qec", `${deno} run -A ${main} hash-password --iterations 1000`, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let screen = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) screen += dec.decode(chunk, { stream: true });
  })();
  const w = child.stdin.getWriter();
  let from = 0;
  for (const [prompt, key] of keys) {
    for (let waited = 0; screen.indexOf(prompt, from) < 0; waited += 20) {
      if (waited > 20_000) throw new Error(`no prompt ${JSON.stringify(prompt)}: ${screen}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    from = screen.indexOf(prompt, from) + prompt.length;
    await new Promise((r) => setTimeout(r, 100)); // raw mode is set right after the prompt
    await w.write(new TextEncoder().encode(key));
  }
  const { code } = await child.status;
  await reading;
  await w.close().catch(() => {});
  return { code, screen };
}

Deno.test({
  name: "hash-password on a terminal asks twice and shows nothing typed",
  ignore: !hasScript,
  async fn() {
    const ok = await typed([["Password: ", "open sesame\r"], [
      "Repeat password: ",
      "open sesame\r",
    ]]);
    assert.equal(ok.code, 0, ok.screen);
    assert.match(ok.screen, /Password: /);
    assert.match(ok.screen, /Repeat password: /);
    assert.ok(!ok.screen.includes("sesame"), `echoed: ${ok.screen}`);
    const hash = ok.screen.split(/\r?\n/).find((l) => l.startsWith("pbkdf2-sha256$"))!;
    assert.ok(await verifyPassword("open sesame", hash.trim()));
    const differ = await typed([["Password: ", "one\r"], ["Repeat password: ", "two\r"]]);
    assert.equal(differ.code, 2);
    assert.match(differ.screen, /the two passwords differ/);
  },
});
