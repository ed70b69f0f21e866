// Spawned by memory_test.ts: commits one object of <MiB> MiB streamed in 64 KiB chunks,
// materializes it, reads it back, and prints the peak RSS (VmHWM) as JSON.
// Usage: memory_child.ts <root> <MiB>
import { crc32 } from "node:zlib";
import { makeRecord, openStore } from "./fixtures.ts";

const [root, mib] = Deno.args;
const CHUNK = 64 * 1024;
const chunks = Number(mib) * 16;
const store = await openStore(root, { materializer: { idleMs: 3_600_000 } });
const record = makeRecord("1.50.1");
const writer = await store.begin({
  assocId: "big",
  callingAeTitle: "MODALITY",
  sopClassUid: record.sopClassUid,
  sopInstanceUid: record.sopInstanceUid,
  transferSyntaxUid: record.transferSyntaxUid,
});
let written = 0;
let crc = 0;
for (let i = 0; i < chunks; i++) {
  const chunk = new Uint8Array(CHUNK); // a fresh buffer per chunk, as from the network
  chunk.fill(i & 0xff);
  new DataView(chunk.buffer).setUint32(0, i);
  crc = crc32(chunk, crc);
  await writer.write(chunk);
  written += chunk.length;
}
const result = await writer.commit(record);
await store.endAssociation("big");
await store.drain();
const stored = await store.readObject(record.sopInstanceUid);
let readBack = 0;
let readCrc = 0;
let metaLength = -1;
if (stored) {
  metaLength = stored.length - written;
  let skip = metaLength;
  for await (const part of stored.stream) {
    const body = skip >= part.length ? part.subarray(part.length) : part.subarray(skip);
    skip = Math.max(0, skip - part.length);
    readCrc = crc32(body, readCrc);
    readBack += body.length;
  }
}
const location = store.getInstance(record.sopInstanceUid)?.location.kind;
await store.close();
const status = await Deno.readTextFile("/proc/self/status");
const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
console.log(JSON.stringify({
  result,
  written,
  readBack,
  sameBytes: readCrc === crc,
  metaLength,
  location,
  peakRssMb: hwmKb / 1024,
}));
