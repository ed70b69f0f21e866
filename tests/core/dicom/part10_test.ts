import assert from "node:assert/strict";
import {
  decodeFileMetaInformation,
  DicomError,
  encodeFileMetaInformation,
  type FileMeta,
} from "../../../src/core/dicom/part10.ts";

const meta: FileMeta = {
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  sopInstanceUid: "1.2.3.4.5", // odd length: NUL-padded
  transferSyntaxUid: "1.2.840.10008.1.2.1",
  implementationClassUid: "1.2.826.0.1.3680043.9.7777",
  implementationVersionName: "MINIPACS_2", // even length
  sourceAeTitle: "CT1", // odd length: space-padded
};

Deno.test("encodeFileMetaInformation() writes preamble, DICM and a correct group length", () => {
  const bytes = encodeFileMetaInformation(meta);
  assert.ok(bytes.subarray(0, 128).every((b) => b === 0));
  assert.equal(new TextDecoder().decode(bytes.subarray(128, 132)), "DICM");
  const view = new DataView(bytes.buffer);
  // (0002,0000) UL 4
  assert.deepEqual([...bytes.subarray(132, 140)], [0x02, 0, 0, 0, 0x55, 0x4c, 4, 0]);
  assert.equal(view.getUint32(140, true), bytes.length - 144);
  // (0002,0001) OB with reserved bytes, length 2, value 00 01
  assert.deepEqual([...bytes.subarray(144, 158)], [2, 0, 1, 0, 0x4f, 0x42, 0, 0, 2, 0, 0, 0, 0, 1]);
  assert.equal(bytes.length % 2, 0);
});

Deno.test("encodeFileMetaInformation() pads UIDs with NUL and AE/SH with space", () => {
  const bytes = encodeFileMetaInformation(meta);
  const text = new TextDecoder("latin1").decode(bytes);
  assert.ok(text.includes("1.2.3.4.5\0"));
  assert.ok(text.includes("CT1 "));
  assert.ok(text.includes("\x02\x00\x16\x00AE\x04\x00CT1 "));
});

Deno.test("decodeFileMetaInformation() round-trips what encode wrote", () => {
  const bytes = encodeFileMetaInformation(meta);
  const dataset = new Uint8Array([0x08, 0, 0x18, 0, 0x55, 0x49, 2, 0, 0x31, 0]);
  const file = new Uint8Array(bytes.length + dataset.length);
  file.set(bytes);
  file.set(dataset, bytes.length);
  const { meta: decoded, datasetOffset } = decodeFileMetaInformation(file);
  assert.deepEqual(decoded, meta);
  assert.equal(datasetOffset, bytes.length);
});

Deno.test("decodeFileMetaInformation() omits sourceAeTitle when the file has none", () => {
  const { sourceAeTitle: _, ...noAe } = meta;
  const { meta: decoded } = decodeFileMetaInformation(encodeFileMetaInformation(noAe));
  assert.deepEqual(decoded, noAe);
  assert.equal("sourceAeTitle" in decoded, false);
});

Deno.test("decodeFileMetaInformation() tolerates a missing group length", () => {
  const bytes = encodeFileMetaInformation(meta);
  const withoutLength = new Uint8Array(bytes.length - 12);
  withoutLength.set(bytes.subarray(0, 132));
  withoutLength.set(bytes.subarray(144), 132);
  const { meta: decoded, datasetOffset } = decodeFileMetaInformation(withoutLength);
  assert.deepEqual(decoded, meta);
  assert.equal(datasetOffset, withoutLength.length);
});

Deno.test("decodeFileMetaInformation() tolerates a wrong group length", () => {
  const bytes = encodeFileMetaInformation(meta);
  new DataView(bytes.buffer).setUint32(140, 10, true);
  const { meta: decoded, datasetOffset } = decodeFileMetaInformation(bytes);
  assert.deepEqual(decoded, meta);
  assert.equal(datasetOffset, bytes.length);
});

Deno.test("decodeFileMetaInformation() rejects bytes without the DICM prefix", () => {
  const bytes = encodeFileMetaInformation(meta);
  bytes[128] = 0x58;
  assert.throws(() => decodeFileMetaInformation(bytes), DicomError);
  assert.throws(() => decodeFileMetaInformation(new Uint8Array(50)), DicomError);
});

Deno.test("decodeFileMetaInformation() rejects a truncated group and a missing transfer syntax", () => {
  const bytes = encodeFileMetaInformation(meta);
  assert.throws(() => decodeFileMetaInformation(bytes.subarray(0, bytes.length - 3)), DicomError);
  const noTs = encodeFileMetaInformation({ ...meta, transferSyntaxUid: "" });
  assert.throws(() => decodeFileMetaInformation(noTs), /Transfer Syntax/);
});

Deno.test("decodeFileMetaInformation() reads a file written by DCMTK dump2dcm", async () => {
  const tool = "/usr/bin/dump2dcm";
  try {
    await Deno.stat(tool);
  } catch {
    console.log("skip: dump2dcm (DCMTK) not installed");
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/in.dump`,
      [
        "(0008,0016) UI =CTImageStorage",
        "(0008,0018) UI [1.2.3.4.5]",
        "(0010,0010) PN [Doe^John]",
      ].join("\n"),
    );
    const out = await new Deno.Command(tool, {
      args: ["--write-xfer-little", `${dir}/in.dump`, `${dir}/out.dcm`],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const file = await Deno.readFile(`${dir}/out.dcm`);
    const { meta: decoded, datasetOffset } = decodeFileMetaInformation(file);
    assert.equal(decoded.sopClassUid, "1.2.840.10008.5.1.4.1.1.2");
    assert.equal(decoded.sopInstanceUid, "1.2.3.4.5");
    assert.equal(decoded.transferSyntaxUid, "1.2.840.10008.1.2.1");
    assert.ok(decoded.implementationClassUid.startsWith("1.2.276.0.7230010.3"));
    // The dataset starts with (0008,0016).
    assert.deepEqual([...file.subarray(datasetOffset, datasetOffset + 4)], [8, 0, 0x16, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
