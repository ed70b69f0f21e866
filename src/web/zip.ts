// A ZIP archive written as a stream (APPNOTE 6.3.10): entries stored (not compressed: DICOM
// images compress poorly and this keeps the server's CPU free), each followed by a data
// descriptor with its CRC-32 and sizes, then the central directory. Nothing is built in memory
// or on disk first; memory holds one chunk and the list of names. Past 4 GiB or 65,535
// entries the ZIP64 records take over (APPNOTE 4.3.14, 4.3.15, 4.5.3).

import { concatBytes } from "../core/dicom/bytes.ts";

/** CRC-32 tables (IEEE 802.3, reflected, polynomial 0xEDB88320), eight for slicing-by-8. */
const CRC_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k][n] = (t[k - 1][n] >>> 8) ^ t[0][t[k - 1][n] & 0xff];
  }
  return t;
})();

/** Continues a CRC-32 over more bytes (start with 0). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = (crc ^ 0xffffffff) >>> 0;
  let i = 0;
  const whole = bytes.length - (bytes.length % 8);
  for (; i < whole; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[bytes[i + 4]] ^ t2[bytes[i + 5]] ^ t1[bytes[i + 6]] ^ t0[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One file of the archive: its name and its bytes, opened when its turn comes. */
export interface ZipEntry {
  name: string;
  /** Null when the file is gone by then: it is left out. */
  open(): Promise<ReadableStream<Uint8Array> | null>;
  /** Modification time (DOS date and time in the headers). */
  modified?: Date;
  /**
   * The expected size: an entry of 4 GiB or more must say so, as its sizes are then written
   * in ZIP64 form from its local header on. An unsized entry that grows past 4 GiB fails.
   */
  size?: number;
}

/** The largest value of a 32-bit field; this or more needs ZIP64. */
const MAX32 = 0xffffffff;
/** The largest entry count of the end of central directory record. */
const MAX16 = 0xffff;

const UTF8_FLAG = 0x0800;
const DESCRIPTOR_FLAG = 0x0008;
/** Version needed to extract: 2.0, or 4.5 for ZIP64 (APPNOTE 4.4.3). */
const V20 = 20;
const V45 = 45;

function dosTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getUTCFullYear());
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

class Bytes {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  at = 0;
  constructor(n: number) {
    this.buf = new Uint8Array(n);
    this.dv = new DataView(this.buf.buffer);
  }
  u16(v: number): this {
    this.dv.setUint16(this.at, v, true);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.dv.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  u64(v: number): this {
    this.dv.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
}

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
  time: number;
  date: number;
  /** Sizes in ZIP64 form (local header extra field, 8-byte descriptor). */
  zip64: boolean;
}

/** Local file header (APPNOTE 4.3.7): CRC and sizes follow in the descriptor. */
function localHeader(e: Written): Uint8Array {
  const extra = e.zip64 ? 20 : 0;
  const out = new Bytes(30 + e.name.length + extra)
    .u32(0x04034b50).u16(e.zip64 ? V45 : V20).u16(UTF8_FLAG | DESCRIPTOR_FLAG).u16(0)
    .u16(e.time).u16(e.date).u32(0)
    .u32(e.zip64 ? MAX32 : 0).u32(e.zip64 ? MAX32 : 0)
    .u16(e.name.length).u16(extra).bytes(e.name);
  // ZIP64 extended information (APPNOTE 4.5.3): both sizes, known only in the descriptor.
  if (e.zip64) out.u16(0x0001).u16(16).u64(0).u64(0);
  return out.buf;
}

/** Data descriptor with its signature (APPNOTE 4.3.9): 8-byte sizes for a ZIP64 entry. */
function dataDescriptor(e: Written): Uint8Array {
  if (e.zip64) return new Bytes(24).u32(0x08074b50).u32(e.crc).u64(e.size).u64(e.size).buf;
  return new Bytes(16).u32(0x08074b50).u32(e.crc).u32(e.size).u32(e.size).buf;
}

/**
 * The archive as a byte stream: each entry's bytes are read only when the reader of the
 * stream asks for more (backpressure). An entry whose stream fails ends the archive with an
 * error; an entry that is gone (open() gives null) is skipped.
 */
export function zipStream(entries: Iterable<ZipEntry> | AsyncIterable<ZipEntry>): ReadableStream<
  Uint8Array
> {
  const written: Written[] = [];
  let offset = 0;
  const encoder = new TextEncoder();
  const iterator =
    (Symbol.asyncIterator in entries
      ? (entries as AsyncIterable<ZipEntry>)[Symbol.asyncIterator]()
      : (async function* () {
        yield* entries as Iterable<ZipEntry>;
      })()) as AsyncIterator<ZipEntry>;
  let current: { reader: ReadableStreamDefaultReader<Uint8Array>; entry: Written } | null = null;
  let finished = false;
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, b: Uint8Array) => {
    offset += b.length;
    controller.enqueue(b);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Each pull emits at least one chunk or closes the stream.
        for (;;) {
          if (current) {
            const r = await current.reader.read();
            if (!r.done) {
              const e = current.entry;
              e.crc = crc32(r.value, e.crc);
              e.size += r.value.length;
              if (!e.zip64 && e.size >= MAX32) {
                throw new Error(`${new TextDecoder().decode(e.name)} passed 4 GiB unannounced`);
              }
              emit(controller, r.value);
              return;
            }
            const e = current.entry;
            current = null;
            emit(controller, dataDescriptor(e));
            return;
          }
          if (finished) return;
          const next = await iterator.next();
          if (next.done) {
            finished = true;
            for (const chunk of centralDirectory(written, offset)) emit(controller, chunk);
            controller.close();
            return;
          }
          const stream = await next.value.open();
          if (!stream) continue;
          const { time, date } = dosTime(next.value.modified ?? new Date());
          const entry: Written = {
            name: encoder.encode(next.value.name),
            crc: 0,
            size: 0,
            offset,
            time,
            date,
            zip64: (next.value.size ?? 0) >= MAX32,
          };
          written.push(entry);
          current = { reader: stream.getReader(), entry };
          emit(controller, localHeader(entry));
          return;
        }
      } catch (e) {
        await current?.reader.cancel().catch(() => {});
        current = null;
        controller.error(e);
      }
    },
    async cancel() {
      await current?.reader.cancel().catch(() => {});
      current = null;
      await iterator.return?.();
    },
  }, { highWaterMark: 0 });
}

/** One central directory header (APPNOTE 4.3.12), with ZIP64 fields where 32 bits do not do. */
function centralHeader(e: Written): Uint8Array {
  const bigSize = e.zip64 || e.size >= MAX32;
  const bigOffset = e.offset >= MAX32;
  const extra = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
  const out = new Bytes(46 + e.name.length + (extra ? 4 + extra : 0));
  const version = extra ? V45 : V20;
  out.u32(0x02014b50).u16(version).u16(version).u16(UTF8_FLAG | DESCRIPTOR_FLAG).u16(0)
    .u16(e.time).u16(e.date).u32(e.crc)
    .u32(bigSize ? MAX32 : e.size).u32(bigSize ? MAX32 : e.size)
    .u16(e.name.length).u16(extra ? 4 + extra : 0).u16(0).u16(0).u16(0).u32(0)
    .u32(bigOffset ? MAX32 : e.offset).bytes(e.name);
  // The ZIP64 extra field holds, in this order, only the fields set to 0xFFFFFFFF above.
  if (extra) {
    out.u16(0x0001).u16(extra);
    if (bigSize) out.u64(e.size).u64(e.size);
    if (bigOffset) out.u64(e.offset);
  }
  return out.buf;
}

/**
 * The central directory in chunks of headers, then the end of central directory record
 * (APPNOTE 4.3.16), preceded by the ZIP64 end record and its locator when the entry count,
 * the directory's size or its offset do not fit (APPNOTE 4.3.14, 4.3.15).
 */
function* centralDirectory(entries: readonly Written[], start: number): Generator<Uint8Array> {
  let size = 0;
  const batch: Uint8Array[] = [];
  for (const e of entries) {
    const h = centralHeader(e);
    size += h.length;
    batch.push(h);
    if (batch.length === 1024) yield concatBytes(batch.splice(0));
  }
  if (batch.length) yield concatBytes(batch);
  const count = entries.length;
  const zip64 = count >= MAX16 || size >= MAX32 || start >= MAX32;
  const end = new Bytes((zip64 ? 56 + 20 : 0) + 22);
  if (zip64) {
    const at = start + size;
    end.u32(0x06064b50).u64(44).u16(V45).u16(V45).u32(0).u32(0)
      .u64(count).u64(count).u64(size).u64(start);
    end.u32(0x07064b50).u32(0).u64(at).u32(1);
  }
  end.u32(0x06054b50).u16(0).u16(0).u16(Math.min(count, MAX16)).u16(Math.min(count, MAX16))
    .u32(Math.min(size, MAX32)).u32(Math.min(start, MAX32)).u16(0);
  yield end.buf;
}
