// Transcoding benchmark: C-MOVE of 200 JPEG Baseline 512x512 RGB images (ultrasound-like) and
// of 200 JPEG-LS lossless 512x512 16-bit CT images to a DCMTK storescp that accepts Implicit VR
// Little Endian only (+xi), so every image is decoded on the way; from MiniPACS and from
// Orthanc (which decodes with DCMTK's codecs) holding the same files, in the same run. Each
// round syncs, empties the destination, and alternates which server goes first; the table
// gives each server's median images/s and CPU ms per image (the server process, all its
// threads) and the median of the per-round MiniPACS/Orthanc ratios.
//
//   deno task bench --suite transcode [--transcode-count N] [--transcode-repeat R]
//                                     [--transcode-json out.json]
//                                     [--compare PATH [--compare-label L]]
//
// --compare PATH: also move from the MiniPACS whose src/main.ts is PATH (another checkout), in
// the same rounds, and print the median of the paired per-round ratios of this MiniPACS to it.
import { parseArgs } from "node:util";
import { newUid } from "../helpers/corpus.ts";
import { COMPARE_OPTIONS } from "./find_bench.ts";
import { nativeObject, type NativeSpec, testPixels } from "../helpers/codec_corpus.ts";
import {
  type Destination,
  journalDrained,
  orthancVersion,
  type Run,
  type Source,
  startDestination,
  startMiniPacs,
  startOrthanc,
  timed,
  tool,
} from "./move_bench.ts";

const ORTHANC_BIN = "/usr/sbin/Orthanc";
/** The other MiniPACS build of --compare. */
const COMPARE = "compare";

/** CPU time (user + system, all threads) a process has used so far, in ms; NaN if gone. */
async function cpuMs(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime in clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

export const TRANSCODE_OPTIONS = {
  "transcode-count": { type: "string", default: "200" },
  "transcode-repeat": { type: "string", default: "5" },
  "transcode-json": { type: "string" },
} as const;

interface ImageSet {
  name: string;
  /** storescu's option proposing the set's transfer syntax first. */
  propose: string;
  dir: string;
  studyUid: string;
}

const US_RGB: NativeSpec = {
  rows: 512,
  columns: 512,
  samplesPerPixel: 3,
  bitsAllocated: 8,
  bitsStored: 8,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.6.1",
};
const CT_16: NativeSpec = {
  rows: 512,
  columns: 512,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 16,
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
};

/**
 * `count` copies of one compressed image (DCMTK's dcmcjpeg or dcmcjpls), each under its own
 * SOP Instance UID of the same length (patched in place), all in one study.
 */
async function makeSet(
  root: string,
  name: string,
  spec: NativeSpec,
  codec: string[],
  propose: string,
  count: number,
): Promise<ImageSet> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir);
  const studyUid = newUid();
  const prefix = newUid();
  const original = `${prefix}.100000`;
  const template = nativeObject(
    { ...spec, studyInstanceUid: studyUid, sopInstanceUid: original },
    testPixels(spec),
  );
  await Deno.writeFile(`${root}/${name}.dcm`, template);
  const r = await tool(codec[0], [
    ...codec.slice(1),
    `${root}/${name}.dcm`,
    `${root}/${name}.c.dcm`,
  ]);
  if (!r.ok) throw new Error(`${codec.join(" ")} failed: ${r.text}`);
  const compressed = await Deno.readFile(`${root}/${name}.c.dcm`);
  // The SOP Instance UID (dcmcjpeg gives a lossy copy a new one) is replaced by others of the
  // same length: its last component becomes 1000..., 1001..., of the same number of digits.
  const uid = metaSopInstanceUid(compressed);
  const last = uid.slice(uid.lastIndexOf(".") + 1);
  if (last.length < 6 || count > 9 * 10 ** (last.length - 1)) {
    throw new Error(`cannot make ${count} UIDs like ${uid}`);
  }
  for (let i = 0; i < count; i++) {
    const clone = `${uid.slice(0, uid.length - last.length)}${10 ** (last.length - 1) + i}`;
    const bytes = replaceUid(compressed, uid, clone);
    await Deno.writeFile(`${dir}/${i}.dcm`, bytes);
  }
  return { name, propose, dir, studyUid };
}

function metaSopInstanceUid(bytes: Uint8Array): string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 132; i + 8 < bytes.length; i += 2) {
    if (dv.getUint16(i, true) === 0x0002 && dv.getUint16(i + 2, true) === 0x0003) {
      const n = dv.getUint16(i + 6, true);
      return new TextDecoder().decode(bytes.subarray(i + 8, i + 8 + n)).replace(/\0+$/, "");
    }
  }
  throw new Error("no Media Storage SOP Instance UID");
}

function replaceUid(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const out = bytes.slice();
  const f = new TextEncoder().encode(from);
  for (let i = 0; i + f.length <= out.length && i < 16384; i++) {
    let k = 0;
    while (k < f.length && out[i + k] === f[k]) k++;
    if (k === f.length) { for (let j = 0; j < f.length; j++) out[i + j] = to.charCodeAt(j); }
  }
  return out;
}

async function load(source: Source, set: ImageSet): Promise<void> {
  const r = await tool("storescu", [
    set.propose,
    "-aet",
    "BENCH",
    "-aec",
    source.aeTitle,
    "+sd",
    "+r",
    "127.0.0.1",
    String(source.port),
    set.dir,
  ]);
  if (!r.ok || /^E: /m.test(r.text)) {
    throw new Error(`loading ${set.name} into ${source.aeTitle} failed:\n${r.text.slice(-2000)}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Runs the transcoding suite; returns the process exit code. */
export async function runTranscodeBench(
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const count = Number(values["transcode-count"]);
  const repeat = Number(values["transcode-repeat"]);
  if (!Number.isInteger(count) || count < 1 || count > 10_000) {
    console.error("--transcode-count must be an integer from 1 to 10000");
    return 2;
  }
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    console.error("--transcode-repeat must be an integer from 1 to 20");
    return 2;
  }
  const orthanc = await Deno.stat(ORTHANC_BIN).then(() => true, () => false);
  if (!orthanc) console.log(`SKIP: ${ORTHANC_BIN} is missing (apt-get install orthanc)`);
  const root = await Deno.makeTempDir({ prefix: "minipacs-bench-transcode-" });
  let dest: Destination | undefined;
  const sources = new Map<string, Source>();
  const runs = new Map<string, Run[]>(); // `${set} ${server}`
  const ratios = new Map<string, number[]>();
  let failed = false;
  try {
    const t0 = performance.now();
    const sets = [
      // +un: the clones keep the template's UID length (dcmcjpeg's new ones vary).
      await makeSet(root, "jpeg-baseline-rgb", US_RGB, ["dcmcjpeg", "+eb", "+un"], "-xy", count),
      await makeSet(root, "jpeg-ls-ct", CT_16, ["dcmcjpls", "+el"], "-xt", count),
    ];
    console.log(`corpus: 2 x ${count} images, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    dest = await startDestination(["+xi"]);
    const compare = typeof values.compare === "string" ? values.compare : undefined;
    const servers = ["minipacs", ...(orthanc ? ["orthanc"] : []), ...(compare ? [COMPARE] : [])];
    for (const server of servers) {
      const dir = `${root}/${server}`;
      await Deno.mkdir(dir);
      const source = server === "orthanc"
        ? await startOrthanc(dir, dest.port)
        : await startMiniPacs(dir, dest.port, server === COMPARE ? compare : undefined);
      sources.set(server, source);
      for (const set of sets) await load(source, set);
    }
    for (const server of ["minipacs", COMPARE]) {
      if (sources.has(server)) await journalDrained(`${root}/${server}/data/journal`);
    }
    const cpu = new Map<string, number[]>(); // `${set} ${server}`: CPU ms per image
    const move = (source: Source, set: ImageSet) => [
      "-aet",
      "BENCH",
      "-aec",
      source.aeTitle,
      "-aem",
      "DEST",
      "-S",
      "-k",
      "QueryRetrieveLevel=STUDY",
      "-k",
      `StudyInstanceUID=${set.studyUid}`,
      "127.0.0.1",
      String(source.port),
    ];
    for (let round = 1; round <= repeat; round++) {
      for (const set of sets) {
        const order = round % 2 ? servers : [...servers].reverse();
        const rate: Record<string, number> = {};
        for (const server of order) {
          const source = sources.get(server)!;
          const before = await cpuMs(source.pid);
          const r = await timed(dest, count, "movescu", move(source, set));
          const perImage = (await cpuMs(source.pid) - before) / count;
          const key = `${set.name} ${server}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          cpu.set(key, [...(cpu.get(key) ?? []), perImage]);
          if (r.error) failed = true;
          else rate[server] = r.imagesPerSecond;
          console.log(
            `${set.name}, ${server}, round ${round}: ` +
              (r.error
                ? `FAILED ${r.error}`
                : `${r.imagesPerSecond.toFixed(1)} img/s, ${perImage.toFixed(2)} CPU ms/img`),
          );
        }
        for (const other of ["orthanc", COMPARE]) {
          if (!rate.minipacs || !rate[other]) continue;
          const key = `${set.name} ${other}`;
          ratios.set(key, [...(ratios.get(key) ?? []), rate.minipacs / rate[other]]);
        }
      }
    }
    const label = orthanc ? `Orthanc ${await orthancVersion()}` : "Orthanc (not run)";
    const compareLabel = `MiniPACS (${values["compare-label"] ?? compare})`;
    const lines = [[
      "images (to storescp +xi)",
      "MiniPACS img/s",
      "CPU ms/img",
      `${label} img/s`,
      "CPU ms/img",
      "ratio",
      ...(compare ? [`${compareLabel} img/s`, "CPU ms/img", "ratio to it"] : []),
    ]];
    for (const set of sets) {
      const rates = (server: string) =>
        (runs.get(`${set.name} ${server}`) ?? []).filter((r) => !r.error).map((r) =>
          r.imagesPerSecond
        );
      const rate = (server: string, none: string) => {
        const xs = rates(server);
        return xs.length ? median(xs).toFixed(1) : none;
      };
      const cpuOf = (server: string) => {
        const xs = (cpu.get(`${set.name} ${server}`) ?? []).filter(Number.isFinite);
        return xs.length ? median(xs).toFixed(2) : "-";
      };
      const ratio = (other: string) => {
        const r = ratios.get(`${set.name} ${other}`) ?? [];
        return r.length ? `${median(r).toFixed(2)}x` : "-";
      };
      lines.push([
        `${count} ${set.name === "jpeg-baseline-rgb" ? "JPEG Baseline RGB" : "JPEG-LS 16-bit CT"}`,
        rate("minipacs", "FAILED"),
        cpuOf("minipacs"),
        rate("orthanc", "-"),
        cpuOf("orthanc"),
        ratio("orthanc"),
        ...(compare ? [rate(COMPARE, "FAILED"), cpuOf(COMPARE), ratio(COMPARE)] : []),
      ]);
    }
    const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
    console.log("");
    console.log(
      `transcode benchmark: C-MOVE to storescp +xi (Implicit VR LE only), 512x512, ` +
        `median of ${repeat} rounds; ratio = median of per-round MiniPACS/Orthanc`,
    );
    for (const l of lines) console.log(l.map((cell, c) => cell.padEnd(widths[c])).join(" | "));
    const json = values["transcode-json"];
    if (typeof json === "string") {
      await Deno.writeTextFile(
        json,
        JSON.stringify(
          {
            count,
            repeat,
            runs: Object.fromEntries(runs),
            cpuMsPerImage: Object.fromEntries(cpu),
            ratios: Object.fromEntries(ratios),
          },
          null,
          2,
        ) + "\n",
      );
    }
  } finally {
    for (const s of sources.values()) await s.stop().catch(() => {});
    await dest?.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return failed ? 1 : 0;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...TRANSCODE_OPTIONS, ...COMPARE_OPTIONS },
  });
  Deno.exit(await runTranscodeBench(values));
}
