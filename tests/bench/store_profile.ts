// Where the time of one association's C-STORE receive path goes: MiniPACS runs under V8's
// sampling profiler (deno --cpu-prof) with the shipped storage defaults on fresh storage,
// storescu sends the store benchmark's CT images on one association, the server stops cleanly
// (the materializer finishes, inside the profile), and the profile is summed by function.
//
//   deno run -A tests/bench/store_profile.ts [--count N] [--associations A] [--top K] [--keep DIR]
//     [--tls required|not-asked]
//
// Prints the wall time of the send and the server's CPU time per image over it, then the top
// functions by self time and by inclusive time, as a share of the server's busy (non-idle)
// samples. --keep leaves the .cpuprofile in DIR (open it in Chrome DevTools). --tls sends with
// storescu +tls to the DICOM-over-TLS port: `required` asks for a client certificate (node:tls
// serves), `not-asked` does not (Deno's own TLS serves); certificates made with openssl.
// Needs DCMTK's storescu; loopback only.
import { cpuMsOf } from "./process_cpu.ts";
import { parseArgs } from "node:util";
import { generateCorpus } from "./corpus.ts";
import { sendWithStorescu } from "./store_bench.ts";
import { echo, freePort } from "../helpers/peers.ts";
import { MAIN } from "../helpers/server.ts";
import { makeCertificates } from "../helpers/certificates.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** "name file.ts:line" for a profile node. */
function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const file = url ? url.slice(url.lastIndexOf("/") + 1) : "";
  const name = functionName || "(anonymous)";
  return file ? `${name} ${file}:${lineNumber + 1}` : name;
}

/** Self and inclusive microseconds per function label, and the idle time. */
export function summarize(p: CpuProfile) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  p.samples.forEach((id, k) => selfById.set(id, (selfById.get(id) ?? 0) + (p.timeDeltas[k] ?? 0)));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfById) {
    total += us;
    const name = label(byId.get(id)!);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    // Up the tree to the root: bounded by the tree's depth.
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const l = label(byId.get(x)!);
      if (!seen.has(l)) inclusive.set(l, (inclusive.get(l) ?? 0) + us), seen.add(l);
    }
  }
  const idle = self.get("(idle)") ?? 0;
  return { total, idle, busy: total - idle, self, inclusive };
}

function top(m: Map<string, number>, busy: number, k: number): string[] {
  return [...m].filter(([n]) => !["(idle)", "(root)"].includes(n))
    .sort((a, b) => b[1] - a[1]).slice(0, k)
    .map(([n, us]) => `${(100 * us / busy).toFixed(1).padStart(5)}%  ${n}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "1000" },
      top: { type: "string", default: "25" },
      keep: { type: "string" },
      associations: { type: "string", default: "1" },
      tls: { type: "string" },
    },
  });
  if (values.tls !== undefined && !["required", "not-asked"].includes(values.tls)) {
    console.error("--tls: required or not-asked");
    return 2;
  }
  const count = Number(values.count), k = Number(values.top);
  const associations = Number(values.associations);
  const dir = await Deno.makeTempDir({ prefix: "minipacs-store-profile-" });
  const corpus = await generateCorpus(count, associations);
  try {
    const port = freePort();
    const tlsPort = freePort();
    let tlsToml: string[] = [];
    let tlsArgs: string[] = [];
    if (values.tls) {
      const c = await makeCertificates(`${dir}/certs`);
      const client = await c.issue("bench");
      tlsToml = [
        "[tls]",
        "enabled = true",
        `port = ${tlsPort}`,
        `certificate = ${JSON.stringify(c.serverCert)}`,
        `private_key = ${JSON.stringify(c.serverKey)}`,
        `ca_certificates = ${JSON.stringify(c.ca)}`,
        `require_client_certificate = ${values.tls === "required"}`,
      ];
      tlsArgs = ["+tls", client.key, client.cert, "+cf", c.ca];
    }
    const toml = [
      "[server]",
      'bind = "127.0.0.1"',
      `port = ${port}`,
      "[storage]",
      `path = ${JSON.stringify(`${dir}/data`)}`,
      "min_free_mb = 1",
      "[http]",
      "enabled = false",
      "[log]",
      'level = "warn"',
      ...tlsToml,
    ].join("\n");
    await Deno.writeTextFile(`${dir}/config.toml`, toml + "\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--cpu-prof",
        `--cpu-prof-dir=${dir}/prof`,
        "-A",
        MAIN,
        "serve",
        "--config",
        `${dir}/config.toml`,
      ],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    try {
      for (let i = 0; i < 300 && !(await echo(port, "MINIPACS")); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const peer = { aeTitle: "MINIPACS", port: values.tls ? tlsPort : port } as Parameters<
        typeof sendWithStorescu
      >[0];
      const cpu0 = cpuMsOf(child.pid);
      const seconds = await sendWithStorescu(
        peer,
        corpus.groups.map((g) => [g]),
        undefined,
        tlsArgs,
      );
      const cpuMs = (cpuMsOf(child.pid) - cpu0) / count;
      console.log(
        `${count} CT images on ${associations} association(s)` +
          `${values.tls ? ` over TLS (client certificate ${values.tls})` : ""} in ` +
          `${seconds.toFixed(2)} s (${(count / seconds).toFixed(1)} img/s, server CPU ` +
          `${cpuMs.toFixed(2)} ms/img, under the profiler)`,
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
    // One profile per thread: the workers (home copies, decodes) write their own. The main
    // thread's is the one that ran src/main.ts.
    let profile: CpuProfile | undefined;
    let file = "";
    for (const e of Deno.readDirSync(`${dir}/prof`)) {
      const p = JSON.parse(await Deno.readTextFile(`${dir}/prof/${e.name}`)) as CpuProfile;
      if (p.nodes.some((n) => n.callFrame.url.endsWith("/src/main.ts"))) {
        [profile, file] = [p, e.name];
      }
    }
    if (!profile) throw new Error("no profile of the main thread was written");
    if (values.keep) await Deno.copyFile(`${dir}/prof/${file}`, `${values.keep}/${file}`);
    const s = summarize(profile);
    console.log(
      `profile: ${(s.total / 1e6).toFixed(2)} s sampled, ${(s.busy / 1e6).toFixed(2)} s busy ` +
        `(${
          (100 * s.busy / s.total).toFixed(0)
        }%), the rest idle (waiting for the network or disk)`,
    );
    console.log("self time, % of busy:");
    for (const l of top(s.self, s.busy, k)) console.log(`  ${l}`);
    console.log("inclusive time, % of busy:");
    for (const l of top(s.inclusive, s.busy, k)) console.log(`  ${l}`);
    return 0;
  } finally {
    await corpus.remove().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
