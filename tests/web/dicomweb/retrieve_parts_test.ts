// The parts of a WADO-RS multipart answer: each object whole behind its part header, in order,
// read ahead of the consumer but never more than a few objects; objects deleted meanwhile left
// out; large objects streamed; files opened ahead closed when the client goes away.
import assert from "node:assert/strict";
import type { StoredObjectStream } from "../../../src/core/ports.ts";
import type { StoredInstanceEntry } from "../../../src/storage/dicomweb_db.ts";
import type { DicomWebContext } from "../../../src/web/dicomweb/context.ts";
import { multipartObjects } from "../../../src/web/dicomweb/retrieve_parts.ts";

const ELE = "1.2.840.10008.1.2.1";

interface Fake {
  ctx: DicomWebContext;
  /** How many objects were opened, and how many of those were closed or fully read. */
  opened(): number;
  closed(): number;
}

/** Objects "0", "1"... of `size(i)` bytes filled with i; `gone` are not stored. */
function fakeStore(size: (i: number) => number, gone = new Set<number>()): Fake {
  let opened = 0;
  let closed = 0;
  const readObject = (uid: string): Promise<StoredObjectStream | null> => {
    const i = Number(uid);
    if (gone.has(i)) return Promise.resolve(null);
    opened++;
    const length = size(i);
    let done = false;
    const finish = () => {
      if (!done) closed++;
      done = true;
    };
    return Promise.resolve({
      length,
      transferSyntaxUid: ELE,
      sopClassUid: "1.2.3",
      readAll: (into: Uint8Array) => {
        into.fill(i, 0, length);
        finish();
        return Promise.resolve(into.subarray(0, length));
      },
      stream: new ReadableStream<Uint8Array>({
        pull(c) {
          c.enqueue(new Uint8Array(length).fill(i));
          c.close();
          finish();
        },
        cancel: finish,
      }, { highWaterMark: 0 }),
    });
  };
  const ctx = {
    objects: { readObject, readObjectRange: () => Promise.resolve(null) },
  } as unknown as DicomWebContext;
  return { ctx, opened: () => opened, closed: () => closed };
}

const entries = (n: number): StoredInstanceEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    studyInstanceUid: "1",
    seriesInstanceUid: "2",
    sopInstanceUid: String(i),
    sopClassUid: "1.2.3",
    transferSyntaxUid: ELE,
    seq: 1,
  }));

const header = (i: number) => new TextEncoder().encode(`<${i}>`);

Deno.test("multipart parts: each object behind its header, in order; gone ones left out", async () => {
  const store = fakeStore((i) => 10 + i, new Set([2]));
  const out: Uint8Array[] = [];
  for await (const p of multipartObjects(store.ctx, entries(6), Array(6).fill(ELE), header)) {
    out.push(p.slice());
  }
  assert.equal(out.length, 5, "one piece per small object");
  const want = [0, 1, 3, 4, 5].map((i) => {
    const h = header(i);
    const b = new Uint8Array(h.length + 10 + i);
    b.set(h);
    b.fill(i, h.length);
    return b;
  });
  assert.deepEqual(out, want);
  assert.equal(store.closed(), store.opened());
});

Deno.test("multipart parts: reads run ahead of the consumer by a few objects only", async () => {
  const store = fakeStore(() => 100);
  const parts = multipartObjects(store.ctx, entries(50), Array(50).fill(ELE), header);
  await parts.next();
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(store.opened() > 1, "the next objects are read while the first goes out");
  assert.ok(store.opened() <= 6, `${store.opened()} objects read for one sent`);
  await parts.return(undefined);
});

Deno.test("multipart parts: a large object streams; an abandoned answer closes what it opened", async () => {
  const big = 9 * 1024 * 1024; // over the whole-object limit: streamed
  const store = fakeStore((i) => (i % 2 ? big : 64));
  const parts = multipartObjects(store.ctx, entries(8), Array(8).fill(ELE), header);
  const first = await parts.next(); // object 0, whole
  assert.equal(first.value!.length, header(0).length + 64);
  const h1 = await parts.next(); // object 1: its header, then its stream
  assert.deepEqual(h1.value, header(1));
  const body1 = await parts.next();
  assert.equal(body1.value!.length, big);
  await parts.return(undefined); // the client went away
  assert.equal(store.closed(), store.opened(), "every opened object closed");
});
