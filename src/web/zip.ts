// A ZIP archive written as a stream (APPNOTE 6.3.10): entries stored (not compressed: DICOM
// images compress poorly and this keeps the server's CPU free), each followed by a data
// descriptor with its CRC-32 and sizes, then the central directory. Nothing is built in memory
// or on disk first; memory holds one chunk and the list of names.

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as ZIP uses it. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continues a CRC-32 over more bytes (start with 0). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One file of the archive: its name and its bytes, opened when its turn comes. */
export interface ZipEntry {
  name: string;
  /** Null when the file is gone by then: it is left out. */
  open(): Promise<ReadableStream<Uint8Array> | null>;
  /** Modification time (DOS date and time in the headers). */
  modified?: Date;
}

/** The ZIP format without ZIP64: at most this many bytes and entries. */
export const ZIP_MAX_BYTES = 0xffffffff;
export const ZIP_MAX_ENTRIES = 0xffff;

const UTF8_FLAG = 0x0800;
const DESCRIPTOR_FLAG = 0x0008;

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
}

/**
 * The archive as a byte stream: each entry's bytes are read only when the reader of the
 * stream asks for more (backpressure). An entry whose stream fails ends the archive with an
 * error; an entry that is gone (open() gives null) is skipped. Throws (in the stream) past
 * the limits of ZIP without ZIP64.
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
    if (offset > ZIP_MAX_BYTES) throw new Error("archive larger than 4 GiB (no ZIP64)");
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
              current.entry.crc = crc32(r.value, current.entry.crc);
              current.entry.size += r.value.length;
              emit(controller, r.value);
              return;
            }
            const e = current.entry;
            current = null;
            // Data descriptor with its signature (APPNOTE 4.3.9).
            emit(
              controller,
              new Bytes(16).u32(0x08074b50).u32(e.crc).u32(e.size).u32(e.size).buf,
            );
            return;
          }
          if (finished) return;
          const next = await iterator.next();
          if (next.done) {
            finished = true;
            emit(controller, centralDirectory(written, offset));
            controller.close();
            return;
          }
          const stream = await next.value.open();
          if (!stream) continue;
          if (written.length >= ZIP_MAX_ENTRIES) {
            await stream.cancel();
            throw new Error(`more than ${ZIP_MAX_ENTRIES} files (no ZIP64)`);
          }
          const name = encoder.encode(next.value.name);
          const { time, date } = dosTime(next.value.modified ?? new Date());
          const entry: Written = { name, crc: 0, size: 0, offset, time, date };
          written.push(entry);
          // Local file header (APPNOTE 4.3.7): CRC and sizes follow in the descriptor.
          const header = new Bytes(30 + name.length)
            .u32(0x04034b50).u16(20).u16(UTF8_FLAG | DESCRIPTOR_FLAG).u16(0)
            .u16(time).u16(date).u32(0).u32(0).u32(0).u16(name.length).u16(0)
            .bytes(name).buf;
          current = { reader: stream.getReader(), entry };
          emit(controller, header);
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

/** Central directory headers and the end of central directory record (APPNOTE 4.3.12, 4.3.16). */
function centralDirectory(entries: readonly Written[], start: number): Uint8Array {
  const size = entries.reduce((n, e) => n + 46 + e.name.length, 0);
  const out = new Bytes(size + 22);
  for (const e of entries) {
    out.u32(0x02014b50).u16(20).u16(20).u16(UTF8_FLAG | DESCRIPTOR_FLAG).u16(0)
      .u16(e.time).u16(e.date).u32(e.crc).u32(e.size).u32(e.size)
      .u16(e.name.length).u16(0).u16(0).u16(0).u16(0).u32(0).u32(e.offset).bytes(e.name);
  }
  out.u32(0x06054b50).u16(0).u16(0).u16(entries.length).u16(entries.length)
    .u32(size).u32(start).u16(0);
  return out.buf;
}
