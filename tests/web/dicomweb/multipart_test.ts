import assert from "node:assert/strict";
import {
  closeDelimiter,
  MultipartError,
  partHeader,
  readMultipart,
} from "../../../src/web/dicomweb/multipart.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The bytes cut into pieces of `size` (the last may be shorter). */
async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function readAll(source: AsyncIterable<Uint8Array>, boundary: string) {
  const parts: { type: string | null; body: string }[] = [];
  for await (const part of readMultipart(source, boundary)) {
    const pieces: Uint8Array[] = [];
    for await (const p of part.body) pieces.push(p.slice());
    parts.push({ type: part.headers.get("Content-Type"), body: dec.decode(concat(pieces)) });
  }
  return parts;
}

function concat(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("readMultipart() finds every part wherever the chunks are cut", async () => {
  const boundary = "b0undary";
  // A body holding near-misses of the delimiter, a preamble and an epilogue.
  const body = enc.encode(
    "preamble --b0undary not at a line start\r\n" +
      "--b0undary\r\nContent-Type: application/dicom\r\n\r\n" +
      "one\r\n--b0undar\r\nx--b0undary\r\n-b0undary" +
      "\r\n--b0undary  \r\nContent-Type: text/plain\r\nX-Other: 1\r\n\r\n" +
      "two\r\n--b0undary--\r\nepilogue",
  );
  const expected = [
    { type: "application/dicom", body: "one\r\n--b0undar\r\nx--b0undary\r\n-b0undary" },
    { type: "text/plain", body: "two" },
  ];
  for (let size = 1; size <= body.length; size++) {
    assert.deepEqual(await readAll(chunks(body, size), boundary), expected, `chunks of ${size}`);
  }
});

Deno.test("readMultipart() reads what partHeader() and closeDelimiter() write", async () => {
  const boundary = "minipacs-0123";
  const payload = new Uint8Array(100_000).map((_, i) => (i * 13) & 0xff);
  const body = concat([
    partHeader(boundary, { "Content-Type": "application/octet-stream" }),
    payload,
    partHeader(boundary, { "Content-Type": "application/octet-stream" }),
    payload.subarray(0, 10),
    closeDelimiter(boundary),
  ]);
  const got: Uint8Array[] = [];
  for await (const part of readMultipart(chunks(body, 4096), boundary)) {
    const pieces: Uint8Array[] = [];
    for await (const p of part.body) pieces.push(p.slice());
    got.push(concat(pieces));
  }
  assert.deepEqual(got, [payload, payload.subarray(0, 10)]);
});

Deno.test("readMultipart() refuses broken framing with MultipartError", async () => {
  const cases = [
    "no boundary here at all",
    "--b\r\nContent-Type: x\r\n\r\nbody never closed",
    "--b\r\nContent-Type x\r\n\r\nbody\r\n--b--",
    "--b garbage\r\n\r\nbody\r\n--b--",
    "--b\r\nContent-Type: x\r\n",
  ];
  for (const text of cases) {
    await assert.rejects(readAll(chunks(enc.encode(text), 7), "b"), MultipartError, text);
  }
});

Deno.test("readMultipart() passes on an error of the source (a request cut off)", async () => {
  async function* broken() {
    yield enc.encode("--b\r\nContent-Type: x\r\n\r\nsome bytes");
    throw new Error("connection reset");
  }
  await assert.rejects(readAll(broken(), "b"), /connection reset/);
});
