// `deno task compile` and the single binary. The end-to-end path (DCMTK echoscu + storescu,
// our own echo, store and find, DCMTK findscu and movescu, the status page) always runs under
// `deno run` with exactly the permissions the binary is compiled with; the binary itself is
// built and tested only where a denort runtime is at hand (deno compile cannot download one
// without network access).
import assert from "node:assert/strict";
import { compileArgs, findDenort, PERMISSIONS } from "../scripts/compile.ts";
import { V8_FLAGS } from "../scripts/v8_flags.ts";
import { LIBC_PATHS } from "../src/app/malloc_trim.ts";
import { parseConfig } from "../src/config.ts";
import { COMMANDS } from "../src/main.ts";
import { decodeFileMetaInformation } from "../src/core/dicom/part10.ts";
import { checkHttpExposure } from "../src/web/security.ts";
import { CORPUS_CLASSES, makeObject } from "./helpers/corpus.ts";
import { hasTool, ROOT, run } from "./helpers/server.ts";
import { type CliOptions, minipacs, minipacsCommand, startStoreScp } from "./cli/cli.ts";

const runtime = await findDenort();
if (!runtime) {
  console.log(
    "SKIP: compiled-binary tests: no denort runtime (set DENORT_BIN) — deno compile cannot " +
      "download it here",
  );
}
const dcmtk = ["echoscu", "storescu", "dump2dcm", "findscu", "movescu", "storescp"].every(hasTool);

Deno.test("compileArgs() compiles src/main.ts with narrow permissions and passes --target", () => {
  const args = compileArgs({ target: "x86_64-pc-windows-msvc", output: "/tmp/out/minipacs" });
  assert.equal(args[0], "compile");
  assert.deepEqual(args.slice(1, 1 + PERMISSIONS.length), PERMISSIONS);
  assert.ok(!args.some((a) => a === "-A" || a === "--allow-all" || a.startsWith("--allow-run")));
  assert.ok(args.includes("--allow-env=MINIPACS_CONFIG"));
  // The executable runs with the V8 flags `deno task start` uses (a small young generation).
  assert.ok(args.includes(V8_FLAGS));
  assert.deepEqual(args.slice(args.indexOf("--target"), args.indexOf("--target") + 2), [
    "--target",
    "x86_64-pc-windows-msvc",
  ]);
  assert.deepEqual(args.slice(-3), ["--output", "/tmp/out/minipacs", `${ROOT}src/main.ts`]);
  assert.ok(!compileArgs().includes("--target"));
  assert.ok(compileArgs().includes(`${ROOT}dist/minipacs`));
});

Deno.test("deno task compile refuses a DENORT_BIN that is not a file", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/compile.ts`, "--output", "/nonexistent/minipacs"],
    env: { DENORT_BIN: "/nonexistent/denort" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /DENORT_BIN=\/nonexistent\/denort is not/);
});

/** Starts `serve` as the given CLI would run it; resolves with its port and a stop(). */
async function serve(cli: CliOptions, config: string) {
  const [program, pre] = minipacsCommand(cli);
  const child = new Deno.Command(program, {
    args: [...pre, "serve", "--config", config],
    env: { MINIPACS_CONFIG: "" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const c of child.stderr) log += dec.decode(c, { stream: true });
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const { code } = await child.status;
    await reading;
    return code;
  };
  for (let i = 0; i < 300 && !/MiniPACS started/.test(log); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = Number(/MiniPACS started .*dicom_port=(\d+)/.exec(log)?.[1]);
  const httpPort = Number(/MiniPACS started .*http_port=(\d+)/.exec(log)?.[1]);
  if (!port) {
    await stop();
    throw new Error(`server did not start:\n${log}`);
  }
  return { port, httpPort, stop, log: () => log };
}

/** GET /api/status until it counts `instances` objects (totals are re-read at most each second). */
async function statusWith(httpPort: number, instances: number) {
  let status: { aeTitle: string; storage: { instances: number; studies: number } } | undefined;
  for (let i = 0; i < 50; i++) { // bounded: about 5 s
    const rsp = await fetch(`http://127.0.0.1:${httpPort}/api/status`);
    assert.equal(rsp.status, 200);
    status = await rsp.json();
    if (status?.storage.instances === instances) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return status!;
}

/**
 * Against `serve` run by `cli`: DCMTK echoscu and storescu, our own echo and store; our find and
 * DCMTK findscu see the studies; movescu moves one to a storescp known as DEST; the status page
 * counts the objects.
 */
async function endToEnd(cli: CliOptions): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-e2e-" });
  const dest = await startStoreScp("DEST");
  try {
    const config = `${dir}/config.toml`;
    await Deno.writeTextFile(
      config,
      // accept = "any": the finds and moves below come from AE titles no [[known_ae]] names.
      `[server]\nbind = "127.0.0.1"\nport = 0\naccept = "any"\n[storage]\npath = "${dir}/data"\n` +
        `min_free_mb = 1\njournal_reserve_mb = 0\n` +
        `[http]\nenabled = true\nbind = "127.0.0.1"\nport = 0\n` +
        `[[known_ae]]\nae_title = "DEST"\nhost = "127.0.0.1"\nport = ${dest.port}\n`,
    );
    await Deno.mkdir(`${dir}/in`);
    const ct = CORPUS_CLASSES.find((c) => c.modality === "CT")!;
    const [a, b] = [
      await makeObject({ spec: ct, dir: `${dir}/in` }),
      await makeObject({
        spec: ct,
        dir: `${dir}/in`,
      }),
    ];
    const server = await serve(cli, config);
    try {
      const at = ["-aec", "MINIPACS", "127.0.0.1", String(server.port)];
      const e = await run("echoscu", at);
      assert.equal(e.code, 0, e.stderr);
      const s = await run("storescu", ["-aet", "MODALITY", ...at, a.path]);
      assert.equal(s.code, 0, s.stderr);
      const own = await minipacs(["echo", `MINIPACS@127.0.0.1:${server.port}`], cli);
      assert.equal(own.code, 0, own.stderr);
      assert.match(own.stdout, /status 0x0000 success/);
      const stored = await minipacs(["store", `MINIPACS@127.0.0.1:${server.port}`, b.path], cli);
      assert.equal(stored.code, 0, stored.stderr);
      assert.equal(stored.stdout.trim(), "stored 1, failed 0, skipped 0 (not DICOM)");

      const found = await minipacs(
        ["find", `MINIPACS@127.0.0.1:${server.port}`, "-k", "PatientID=PAT001", "--json"],
        cli,
      );
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stderr, /2 matches, status 0x0000 success/);
      const studies = JSON.parse(found.stdout) as Record<string, string>[];
      assert.deepEqual(
        studies.map((m) => m.StudyInstanceUID).sort(),
        [a.studyInstanceUid, b.studyInstanceUid].sort(),
      );
      assert.ok(studies.every((m) => m.ModalitiesInStudy === "CT"));
      const f = await run("findscu", [
        "-S",
        ...at,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${a.studyInstanceUid}`,
        "-k",
        "PatientName",
      ]);
      assert.equal(f.code, 0, f.stderr);
      const findOut = f.stdout + f.stderr;
      assert.ok(findOut.includes(`(0020,000d) UI [${a.studyInstanceUid}`), findOut);
      assert.equal(findOut.match(/Find Response: \d+ \(Pending\)/g)?.length, 1, findOut);
      assert.match(findOut, /\(0010,0010\) PN \[Doe\^John\]/);

      const m = await run("movescu", [
        "-S",
        "-aet",
        "VIEWER",
        "-aem",
        "DEST",
        ...at,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${b.studyInstanceUid}`,
      ]);
      assert.equal(m.code, 0, m.stderr);
      const arrived: string[] = [];
      for await (const e of Deno.readDir(dest.dir)) {
        const bytes = await Deno.readFile(`${dest.dir}/${e.name}`);
        arrived.push(decodeFileMetaInformation(bytes).meta.sopInstanceUid);
      }
      assert.deepEqual(arrived, [b.sopInstanceUid], m.stdout + m.stderr);

      assert.ok(server.httpPort, server.log());
      const status = await statusWith(server.httpPort, 2);
      assert.equal(status.aeTitle, "MINIPACS");
      assert.equal(status.storage.instances, 2);
      assert.equal(status.storage.studies, 2);
      const page = await fetch(`http://127.0.0.1:${server.httpPort}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /id="objects">2</);
    } finally {
      assert.equal(await server.stop(), 0, server.log());
    }
    // reindex reads the files on its reader threads: they load, with these permissions too.
    const rebuilt = await minipacs(["reindex", "--config", config], cli);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, /: 2 objects indexed, 0 files skipped/);
    assert.doesNotMatch(rebuilt.stdout + rebuilt.stderr, /reader thread failed/);
    for (const o of [a, b]) {
      const home =
        `${dir}/data/${o.studyInstanceUid}/${o.seriesInstanceUid}/${o.sopInstanceUid}.dcm`;
      assert.ok((await Deno.stat(home)).isFile, home);
    }
  } finally {
    await dest.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "end to end under deno run with only the compiled binary's permissions",
  ignore: !dcmtk,
  async fn() {
    await endToEnd({ permissions: PERMISSIONS });
  },
});

Deno.test({
  name: "the compiled binary: --version, --help, check-config and the end-to-end path",
  ignore: !runtime,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-compiled-" });
    try {
      const binary = `${dir}/minipacs`;
      const built = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}scripts/compile.ts`, "--output", binary],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));
      const cli = { binary, cwd: dir };
      const version = await minipacs(["--version"], cli);
      assert.equal(version.stdout.split("\n")[0], "MINIPACS_2_0");
      assert.match(version.stdout, new RegExp(`^build: compiled executable ${binary}$`, "m"));
      const help = await minipacs(["--help"], cli);
      assert.match(help.stdout, /^Usage: minipacs/);
      assert.ok(help.stdout.includes("hash-password"));
      // config.toml beside the executable is found from any working directory.
      await Deno.writeTextFile(`${dir}/config.toml`, "[server]\nport = 11112\n");
      const checked = await minipacs(["check-config"], { binary, cwd: "/" });
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stdout, new RegExp(`from ${dir}/config\\.toml`));
      assert.match(checked.stdout, /port = 11112/);
      if (dcmtk) await endToEnd(cli);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the Dockerfile's default configuration is valid and would start", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const embedded = /^COPY <<EOF \/out\/config\.toml\n([\s\S]*?)^EOF$/m.exec(dockerfile);
  assert.ok(embedded, "the default config.toml is written in the Dockerfile");
  const config = parseConfig(embedded[1], "Dockerfile");
  assert.doesNotThrow(() => checkHttpExposure(config.http), "the server would refuse it");
  assert.equal(config.storage.path, "/data");
  assert.equal(config.server.bind, "0.0.0.0");
  assert.match(
    dockerfile,
    /^COPY --from=build \/out\/config\.toml \/etc\/minipacs\/config\.toml$/m,
  );
  assert.match(dockerfile, /^ENV MINIPACS_CONFIG=\/etc\/minipacs\/config\.toml$/m);
  assert.match(dockerfile, /^VOLUME \["\/data"\]$/m);
  const ports = [config.server.port, config.tls.port, config.http.port].join(" ");
  assert.match(dockerfile, new RegExp(`^EXPOSE ${ports}$`, "m"));
  assert.match(dockerfile, /^USER 65532:65532$/m);
  const health = /^\s+CMD \["\/usr\/local\/bin\/minipacs", "(\w+)"\]$/m.exec(dockerfile);
  assert.ok(health && Object.hasOwn(COMMANDS, health[1]), "HEALTHCHECK runs a real subcommand");
  // Only what the build stage copies goes into the build context.
  const ignore = await Deno.readTextFile(`${ROOT}.dockerignore`);
  const copied = [...dockerfile.matchAll(/^COPY (?!--from|<<)(.+) \.\/?\S*$/gm)]
    .flatMap((m) => m[1].split(" "));
  assert.deepEqual(copied, ["deno.json", "deno.lock", "src", "scripts"]);
  for (const path of copied) assert.ok(ignore.includes(`!${path}`), `${path} is ignored`);
});

Deno.test("deno task start runs the server with the same V8 flags as the executable", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.ok(String(config.tasks.start).includes(V8_FLAGS), config.tasks.start);
});

Deno.test("deno task start and the executable may load glibc's libc.so.6, no other library", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const ffi = `--allow-ffi=${LIBC_PATHS.join(",")}`;
  assert.ok(PERMISSIONS.includes(ffi), PERMISSIONS.join(" "));
  assert.ok(String(config.tasks.start).split(" ").includes(ffi), config.tasks.start);
});
