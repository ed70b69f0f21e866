// The systemd unit shipped in packaging/: hardened, reloadable with SIGHUP, port 104 ready to
// be allowed, and valid for systemd itself.
import assert from "node:assert/strict";
import { ROOT } from "./helpers/server.ts";

const UNIT = `${ROOT}packaging/minipacs.service`;

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

Deno.test("the systemd unit is hardened, reloads with SIGHUP and can allow port 104", async () => {
  const text = await Deno.readTextFile(UNIT);
  const d = directives(text);
  assert.deepEqual(d.get("NoNewPrivileges"), ["true"]);
  assert.deepEqual(d.get("ProtectSystem"), ["strict"]);
  assert.deepEqual(d.get("ReadWritePaths"), ["/var/lib/minipacs"]);
  assert.deepEqual(d.get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
  assert.match(
    d.get("ExecStart")![0],
    /^\/usr\/local\/bin\/minipacs serve --config \/etc\/minipacs\/config\.toml$/,
  );
  assert.equal(d.get("User")?.[0], "minipacs");
  // Commented, ready to uncomment for port 104; not granted by default.
  assert.match(text, /^#AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.equal(d.get("AmbientCapabilities"), undefined);
  // The README points at this file.
  assert.match(await Deno.readTextFile(`${ROOT}README.md`), /packaging\/minipacs\.service/);
});

const analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (!analyze) console.log("SKIP: systemd-analyze is not installed (systemd); unit check ignored");

Deno.test({
  name: "systemd-analyze finds nothing wrong with the unit and rates its exposure OK",
  ignore: !analyze,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-unit-" });
    try {
      // The binary is not installed here: point ExecStart at one that exists.
      const text = (await Deno.readTextFile(UNIT)).replace(
        /^ExecStart=\S+/m,
        "ExecStart=/bin/sh",
      );
      await Deno.writeTextFile(`${dir}/minipacs.service`, text);
      const verify = await new Deno.Command(analyze!, {
        args: ["verify", `${dir}/minipacs.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(verify.stderr) +
        new TextDecoder().decode(verify.stdout);
      assert.equal(verify.code, 0, said);
      assert.equal(said.trim(), "");
      const security = await new Deno.Command(analyze!, {
        args: ["security", "--offline=true", `${dir}/minipacs.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const report = new TextDecoder().decode(security.stdout);
      const level = Number(
        /Overall exposure level for minipacs\.service: ([\d.]+)/.exec(report)?.[1],
      );
      assert.ok(level <= 4, `exposure ${level}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
