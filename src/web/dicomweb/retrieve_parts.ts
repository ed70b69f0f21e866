// The Part 10 objects of a WADO-RS retrieve (PS3.18 10.4.1.1.1), as stored or re-encoded,
// and the parts of a multipart/related answer built from them. Objects sent as stored are
// read whole, with their part header in front, into one buffer, a few objects ahead of the
// socket, so that disk reads and network writes overlap; large or re-encoded objects stream.
import { decodeFileMetaInformation, encodeFileMetaInformation } from "../../core/dicom/part10.ts";
import { transcodeDataset } from "../../core/dicom/transcode.ts";
import type { StoredObjectStream } from "../../core/ports.ts";
import type { StoredInstanceEntry } from "../../storage/dicomweb_db.ts";
import type { DicomWebContext } from "./context.ts";
import { UnreadableObject } from "./instances.ts";

/** Objects up to this size are read at once rather than streamed. */
const WHOLE_OBJECT_BYTES = 8 * 1024 * 1024;
/** Objects read ahead of the one being sent. */
const READ_AHEAD = 4;

/** An object's Part 10 bytes in `target` syntax (nothing when it is gone meanwhile). */
export async function* objectBytes(
  ctx: DicomWebContext,
  entry: StoredInstanceEntry,
  target: string,
): AsyncGenerator<Uint8Array> {
  const obj = await ctx.objects.readObject(entry.sopInstanceUid);
  if (!obj) return;
  if (obj.transferSyntaxUid === target) {
    if (obj.readAll && obj.length <= WHOLE_OBJECT_BYTES) {
      yield await obj.readAll(new Uint8Array(obj.length));
    } else yield* obj.stream;
    return;
  }
  yield* transcodedObject(ctx, obj.stream, obj.transferSyntaxUid, target);
}

/** One part loaded ahead: whole in memory, or an open object to stream. */
type Loaded =
  | { kind: "whole"; bytes: Uint8Array }
  | { kind: "open"; obj: StoredObjectStream }
  | { kind: "gone" };

/**
 * The parts of a multipart answer: for each object its part header (`header(i)`) and its
 * bytes in `targets[i]`; an object deleted meanwhile is left out. Reads run up to
 * READ_AHEAD objects ahead; an answer abandoned by its client closes what was opened.
 */
export async function* multipartObjects(
  ctx: DicomWebContext,
  entries: readonly StoredInstanceEntry[],
  targets: readonly string[],
  header: (i: number) => Uint8Array,
): AsyncGenerator<Uint8Array> {
  const load = async (i: number): Promise<Loaded> => {
    const obj = await ctx.objects.readObject(entries[i].sopInstanceUid);
    if (!obj) return { kind: "gone" };
    if (obj.transferSyntaxUid !== targets[i] || !obj.readAll || obj.length > WHOLE_OBJECT_BYTES) {
      return { kind: "open", obj };
    }
    const head = header(i);
    const bytes = new Uint8Array(head.length + obj.length);
    bytes.set(head);
    await obj.readAll(bytes.subarray(head.length));
    return { kind: "whole", bytes };
  };
  const window: Promise<Loaded>[] = [];
  let next = 0;
  const fill = () => {
    while (next < entries.length && window.length < READ_AHEAD) {
      const p = load(next++);
      p.catch(() => {}); // seen when its turn comes
      window.push(p);
    }
  };
  try {
    for (let i = 0; i < entries.length; i++) {
      fill();
      const loaded = await window.shift()!;
      fill();
      if (loaded.kind === "gone") continue;
      if (loaded.kind === "whole") {
        yield loaded.bytes;
        continue;
      }
      const { obj } = loaded;
      const pieces = obj.transferSyntaxUid === targets[i]
        ? obj.stream
        : transcodedObject(ctx, obj.stream, obj.transferSyntaxUid, targets[i]);
      let first = true;
      for await (const piece of pieces) {
        if (first) {
          yield header(i);
          first = false;
        }
        yield piece;
      }
    }
  } finally {
    // Objects opened ahead and never sent: close their files.
    for (const p of window) {
      const loaded = await p.catch(() => null);
      if (loaded?.kind === "open") await loaded.obj.stream.cancel().catch(() => {});
    }
  }
}

/** A Part 10 stream with its dataset re-encoded and new file meta. */
export async function* transcodedObject(
  ctx: DicomWebContext,
  stream: ReadableStream<Uint8Array>,
  from: string,
  to: string,
): AsyncGenerator<Uint8Array> {
  const reader = stream[Symbol.asyncIterator]();
  let head = new Uint8Array(0);
  let parsed;
  for (;;) {
    const next = await reader.next();
    if (next.done) throw new UnreadableObject("stored object ends in its file meta");
    const joined = new Uint8Array(head.length + next.value.length);
    joined.set(head);
    joined.set(next.value, head.length);
    head = joined;
    try {
      parsed = decodeFileMetaInformation(head);
      if (parsed.datasetOffset < head.length || head.length > 1024 * 1024) break;
    } catch (e) {
      if (head.length > 1024 * 1024) throw e;
    }
  }
  const s = ctx.config().server;
  yield encodeFileMetaInformation({
    ...parsed.meta,
    transferSyntaxUid: to,
    implementationClassUid: s.implementationClassUid,
    implementationVersionName: s.implementationVersionName,
  });
  const rest = head.subarray(parsed.datasetOffset);
  const dataset = (async function* () {
    if (rest.length) yield rest;
    for (;;) {
      const next = await reader.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  for await (const piece of transcodeDataset(dataset, from, to)) yield piece.slice();
}
