// DCMTK storescp as a C-MOVE destination in a temporary folder, bit-preserving (+B): what it
// received is read back by SOP Instance UID.
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { freePort } from "./peers.ts";
import { run } from "./server.ts";

export interface Storescp {
  aeTitle: string;
  port: number;
  dir: string;
  /** Received objects by SOP Instance UID: transfer syntax and dataset bytes. */
  received(): Promise<Map<string, { ts: string; dataset: Uint8Array }>>;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStorescp(aeTitle: string, extra: string[] = []): Promise<Storescp> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-storescp-" });
  const port = freePort();
  const child = new Deno.Command("storescp", {
    args: ["-aet", aeTitle, "-od", dir, "+B", ...extra, String(port)],
    env: { TCP_NODELAY: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) { // bounded: about 10 s
    const r = await run("echoscu", ["-aec", aeTitle, "127.0.0.1", String(port)]);
    if (r.code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    aeTitle,
    port,
    dir,
    async received() {
      const out = new Map<string, { ts: string; dataset: Uint8Array }>();
      for await (const e of Deno.readDir(dir)) {
        const bytes = await Deno.readFile(`${dir}/${e.name}`);
        const { meta, datasetOffset } = decodeFileMetaInformation(bytes);
        out.set(meta.sopInstanceUid, {
          ts: meta.transferSyntaxUid,
          dataset: bytes.subarray(datasetOffset),
        });
      }
      return out;
    },
    async clear() {
      for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
