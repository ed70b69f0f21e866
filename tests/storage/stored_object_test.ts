// Reading stored objects back (stored_object.ts): the bytes at the location the index names,
// streamed or at once, a range of them, and the lease on a journal segment being read.
import assert from "node:assert/strict";
import type { InstanceLocation } from "../../src/core/ports.ts";
import type { StoredInstance } from "../../src/storage/instance_rows.ts";
import {
  openStoredObject,
  readObjectRange,
  storedObjectOf,
} from "../../src/storage/stored_object.ts";
import { equalBytes, makeRecord, noise, readAll, withTempDir } from "./fixtures.ts";

function row(location: InstanceLocation): StoredInstance {
  return {
    record: makeRecord("1.15.1"),
    location,
    meta: { homePath: "h.dcm", size: location.length, receivedAt: "", callingAe: "X", seq: 42 },
  };
}

/** A file holding 100 bytes of something else, then the object, then 50 more. */
async function segmentWith(root: string, object: Uint8Array): Promise<InstanceLocation> {
  await Deno.mkdir(`${root}/journal`);
  const bytes = new Uint8Array(100 + object.length + 50).fill(0xee);
  bytes.set(object, 100);
  await Deno.writeFile(`${root}/journal/s.seg`, bytes);
  return { kind: "journal", path: "journal/s.seg", offset: 100, length: object.length };
}

Deno.test("a stored object streams, or reads at once, exactly its bytes; the lease ends after", async () => {
  await withTempDir(async (root) => {
    const object = noise("object", 3 * 1024 * 1024 + 17);
    const location = await segmentWith(root, object);
    const leases: string[] = [];
    let released = 0;
    const lease = (path: string) => {
      leases.push(path);
      return () => released++;
    };
    const streamed = await openStoredObject(root, "1.15.1", () => row(location), lease);
    assert.ok(streamed);
    const stored = storedObjectOf(streamed);
    assert.equal(stored.length, object.length);
    assert.equal(stored.sopClassUid, makeRecord("1.15.1").sopClassUid);
    assert.ok(equalBytes(await readAll(stored.stream), object));
    assert.equal(released, 1);

    const whole = storedObjectOf(
      (await openStoredObject(root, "1.15.1", () => row(location), lease))!,
    );
    await assert.rejects(whole.readAll(new Uint8Array(10)), /buffer too small/);
    const into = new Uint8Array(object.length + 5);
    assert.ok(equalBytes(await whole.readAll(into), object));
    await assert.rejects(whole.readAll(into), /already read/);
    assert.deepEqual(leases, ["journal/s.seg", "journal/s.seg"]);
    assert.equal(released, 2);
  });
});

Deno.test("readObjectRange() reads a range cut at the object's end, with its size and seq", async () => {
  await withTempDir(async (root) => {
    const object = noise("range", 1000);
    const location = await segmentWith(root, object);
    const open = () => openStoredObject(root, "1.15.1", () => row(location), () => undefined);
    const middle = await readObjectRange((await open())!, 10, 20);
    assert.ok(equalBytes(middle.bytes, object.subarray(10, 30)));
    assert.equal(middle.total, 1000);
    assert.equal(middle.seq, 42);
    const tail = await readObjectRange((await open())!, 990, 500);
    assert.ok(equalBytes(tail.bytes, object.subarray(990)));
    assert.equal((await readObjectRange((await open())!, 5000, 10)).bytes.length, 0);
  });
});

Deno.test("openStoredObject(): null when not stored, a retry when the file moved, an error when gone", async () => {
  await withTempDir(async (root) => {
    assert.equal(await openStoredObject(root, "1.15.1", () => undefined, () => undefined), null);
    const object = noise("moved", 64);
    await Deno.writeFile(`${root}/home.dcm`, object);
    const home: InstanceLocation = { kind: "home", path: "home.dcm", offset: 0, length: 64 };
    const gone: InstanceLocation = {
      kind: "journal",
      path: "journal/x.seg",
      offset: 0,
      length: 64,
    };
    // The first lookup names a segment already deleted (the materializer moved the object).
    let lookups = 0;
    let released = 0;
    const opened = await openStoredObject(
      root,
      "1.15.1",
      () => row(lookups++ === 0 ? gone : home),
      () => () => released++,
    );
    assert.ok(opened);
    assert.equal(released, 1, "the lease on the missing segment ended");
    assert.ok(equalBytes(await readAll(storedObjectOf(opened).stream), object));
    await assert.rejects(
      openStoredObject(root, "1.15.1", () => row(gone), () => undefined),
      /indexed but its file is missing/,
    );
  });
});

Deno.test("a file shorter than indexed is an error, never short bytes", async () => {
  await withTempDir(async (root) => {
    await Deno.writeFile(`${root}/short.dcm`, noise("short", 10));
    const location: InstanceLocation = { kind: "home", path: "short.dcm", offset: 0, length: 64 };
    const opened = await openStoredObject(root, "1.15.1", () => row(location), () => undefined);
    await assert.rejects(readAll(storedObjectOf(opened!).stream), /shorter than indexed/);
  });
});
