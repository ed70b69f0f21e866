// Orthanc 1.10 with its own config and storage in a temporary folder, for interop tests.
import { freePort } from "./peers.ts";

export const ORTHANC = "/usr/sbin/Orthanc";

export interface Orthanc {
  aeTitle: string;
  port: number;
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
  output(): string;
}

/**
 * Orthanc with its own config and storage in a temporary folder, MiniPACS as modality
 * "minipacs"; `extra` settings are laid over the config (DICOM TLS, other modalities).
 */
export async function startOrthanc(
  minipacsPort: number,
  port: number,
  extra: Record<string, unknown> = {},
): Promise<Orthanc> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-orthanc-" });
  const httpPort = freePort();
  const config = {
    Name: "MiniPACS retrieve test",
    StorageDirectory: `${dir}/storage`,
    IndexDirectory: `${dir}/index`,
    DicomPort: port,
    HttpPort: httpPort,
    DicomAet: "ORTHANC",
    DicomCheckCalledAet: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    StorageCompression: false,
    Plugins: [],
    SaveJobs: false,
    DicomModalities: { minipacs: { AET: "MINIPACS", Host: "127.0.0.1", Port: minipacsPort } },
    ...extra,
  };
  await Deno.writeTextFile(`${dir}/orthanc.json`, JSON.stringify(config, null, 2));
  const child = new Deno.Command(ORTHANC, {
    args: [`${dir}/orthanc.json`],
    env: { TCP_NODELAY: "1" }, // Orthanc's DICOM layer is DCMTK's
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) text = (text + dec.decode(c, { stream: true })).slice(-20000);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const base = `http://127.0.0.1:${httpPort}`;
  const api = (path: string, init?: RequestInit) =>
    fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await pumps;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  for (let i = 0; i < 300; i++) { // bounded: about 30 s
    const ok = await fetch(`${base}/system`, { signal: AbortSignal.timeout(2000) })
      .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    if (ok) return { aeTitle: "ORTHANC", port, api, stop, output: () => text };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`Orthanc did not start:\n${text}`);
}

/** Orthanc's storage commitment job for `instances` at MiniPACS, once it has the report. */
export interface CommitmentJob {
  id: string;
  Status: string;
  Success?: { SOPInstanceUID: string }[];
  Failures?: { SOPInstanceUID: string; FailureReason: number }[];
}

/**
 * Orthanc as the modality asks MiniPACS (its modality "minipacs") to commit `instances` and
 * waits (about 20 s at most) for the report to reach it.
 */
export async function askCommitment(
  orthanc: Orthanc,
  instances: { cls: string; sop: string }[],
): Promise<CommitmentJob> {
  const r = await orthanc.api("/modalities/minipacs/storage-commitment", {
    method: "POST",
    body: JSON.stringify({
      DicomInstances: instances.map((i) => ({ SOPClassUID: i.cls, SOPInstanceUID: i.sop })),
    }),
  });
  if (r.status !== 200) throw new Error(`storage-commitment: HTTP ${r.status}: ${await r.text()}`);
  const { ID } = await r.json() as { ID: string };
  for (let i = 0; i < 200; i++) { // bounded: about 20 s
    const s = await (await orthanc.api(`/storage-commitment/${ID}`)).json() as CommitmentJob;
    if (s.Status !== "Pending") return { ...s, id: ID };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no storage commitment report reached Orthanc:\n${orthanc.output()}`);
}

/** True when Orthanc is installed; otherwise prints a skip line naming it. */
export function hasOrthanc(): boolean {
  try {
    if (Deno.statSync(ORTHANC).isFile) return true;
  } catch { /* missing */ }
  console.log(`SKIP: ${ORTHANC} is missing (apt-get install orthanc); its tests are ignored`);
  return false;
}
