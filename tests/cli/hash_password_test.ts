// `minipacs hash-password` and the hash format the web login checks with verifyPassword().
import assert from "node:assert/strict";
import { verifyPassword } from "../../src/web/password.ts";
import { minipacs } from "./cli.ts";

const FORMAT = /^pbkdf2-sha256\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

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
