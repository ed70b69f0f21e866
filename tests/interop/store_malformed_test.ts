// Datasets that cannot be read back are never acknowledged: the store parses each dataset to
// its end while streaming and answers a 0xC000-range failure with an Error Comment, storing
// nothing. DCMTK's dcmdump is the judge that each of these datasets is unreadable, and that
// a well-formed one, stored, reads back.
import assert from "node:assert/strict";
import { CommandField } from "../../src/core/dimse/command.ts";
import { encodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { concat, element, us } from "../helpers/dataset_writer.ts";
import { EXPLICIT_LE, openAssociation } from "../helpers/scu.ts";
import { run, startMiniPacs } from "../helpers/server.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const hasDcmdump = await new Deno.Command("dcmdump", { args: ["--version"], stdout: "null" })
  .output().then(() => true).catch(() => false);
if (!hasDcmdump) console.log("SKIP: malformed dataset tests need dcmdump (package dcmtk)");

function header(sop: string, study = "1.2.826.0.1.3680043.9.7433.12.1"): Uint8Array {
  return concat([
    element(0x00080016, "UI", CT),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", "CT"),
    element(0x00100020, "LO", "PAT12"),
    element(0x0020000d, "UI", study),
    element(0x0020000e, "UI", "1.2.826.0.1.3680043.9.7433.12.2"),
    element(0x00280010, "US", us(10)),
    element(0x00280011, "US", us(50)),
    element(0x00280100, "US", us(16)),
  ]);
}

/** An explicit VR LE element header with any length (for lengths that lie). */
function rawHeader(tag: number, vr: string, length: number): Uint8Array {
  const out = new Uint8Array(12);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, tag >>> 16, true);
  dv.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  dv.setUint32(8, length, true);
  return out;
}

const pixels = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);
const item = (length: number) => {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 0xfffe, true);
  dv.setUint16(2, 0xe000, true);
  dv.setUint32(4, length, true);
  return b;
};

const garbageUid = new Uint8Array([0x31, 0x2e, 0x00, 0xff, 0x9c, 0x41, 0x2e, 0x07, 0xfe, 0x33]);
const garbage = new Uint8Array(48).map((_, i) => (i * 167 + 13) & 0xff);

const MALFORMED: [string, (sop: string) => Uint8Array][] = [
  [
    "Pixel Data of 1,000 bytes declared 8,192",
    (sop) => concat([header(sop), rawHeader(0x7fe00010, "OW", 8192), pixels(1000)]),
  ],
  [
    "a Pixel Data length of 0x7FFFFFF0 past the end",
    (sop) => concat([header(sop), rawHeader(0x7fe00010, "OW", 0x7ffffff0), pixels(1000)]),
  ],
  [
    "native Pixel Data of undefined length with no delimiter",
    (sop) => concat([header(sop), rawHeader(0x7fe00010, "OW", 0xffffffff), pixels(1000)]),
  ],
  ["a trailing undefined-length sequence with no delimiters", (sop) =>
    concat([
      header(sop),
      element(0x7fe00010, "OW", pixels(1000)),
      rawHeader(0xfffafffa, "SQ", 0xffffffff),
      item(0xffffffff),
      element(0x00080100, "SH", "CODE"),
    ])],
  ["a Study Instance UID encoded as a sequence of garbage bytes", (sop) =>
    concat([
      element(0x00080016, "UI", CT),
      element(0x00080018, "UI", sop),
      element(0x00080060, "CS", "CT"),
      element(0x00100020, "LO", "PAT12"),
      element(0x0020000d, "SQ", garbage),
      element(0x0020000e, "UI", "1.2.826.0.1.3680043.9.7433.12.2"),
      element(0x7fe00010, "OW", pixels(1000)),
    ])],
];

async function dcmdumpReads(path: string): Promise<{ ok: boolean; output: string }> {
  const r = await run("dcmdump", ["-q", "+E", path]);
  const output = r.stdout + r.stderr;
  return { ok: r.code === 0 && !/^E: /m.test(output), output };
}

async function asPart10(dir: string, name: string, sop: string, dataset: Uint8Array) {
  const meta = encodeFileMetaInformation({
    sopClassUid: CT,
    sopInstanceUid: sop,
    transferSyntaxUid: EXPLICIT_LE,
    implementationClassUid: "1.2.3.4",
    implementationVersionName: "TEST",
  });
  const path = `${dir}/${name}.dcm`;
  await Deno.writeFile(path, concat([meta, dataset]));
  return path;
}

async function findDcm(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    if (depth > 6) return;
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`, depth + 1);
      else if (e.name.endsWith(".dcm")) out.push(`${dir}/${e.name}`);
    }
  };
  await walk(root, 0);
  return out;
}

Deno.test({
  name: "the five unreadable datasets are refused with 0xC000-range failures; nothing is stored",
  ignore: !hasDcmdump,
  async fn() {
    const pacs = await startMiniPacs();
    try {
      const assoc = await openAssociation(pacs.port, {
        contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }],
      });
      const store = async (sop: string, dataset: Uint8Array) =>
        (await assoc.request(1, {
          commandField: CommandField.CStoreRq,
          commandDataSetType: 0,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: sop,
        }, dataset)).command;
      for (const [i, [what, build]] of MALFORMED.entries()) {
        const sop = `1.2.826.0.1.3680043.9.7433.12.3.${i}`;
        const dataset = build(sop);
        const judged = await dcmdumpReads(await asPart10(pacs.dir, `bad${i}`, sop, dataset));
        assert.equal(judged.ok, false, `dcmdump reads "${what}": ${judged.output}`);
        const rsp = await store(sop, dataset);
        const status = rsp.status ?? 0;
        assert.ok(
          status >= 0xc000 && status <= 0xcfff,
          `${what}: status 0x${status.toString(16)}`,
        );
        assert.ok(rsp.errorComment && rsp.errorComment.length > 0, `${what}: an Error Comment`);
      }
      // A UID with NUL and non-digits: readable, but no valid UID to index it by.
      const badUid = "1.2.826.0.1.3680043.9.7433.12.3.50";
      const withBadUid = concat([
        element(0x00080016, "UI", CT),
        element(0x00080018, "UI", badUid),
        element(0x0020000d, "UI", garbageUid),
        element(0x0020000e, "UI", "1.2.826.0.1.3680043.9.7433.12.2"),
      ]);
      const refused = await store(badUid, withBadUid);
      assert.equal(refused.status, 0xc000);
      assert.match(refused.errorComment ?? "", /invalid UID in Study Instance UID/);
      // A well-formed object on the same association is stored and reads back.
      const goodSop = "1.2.826.0.1.3680043.9.7433.12.3.99";
      const good = concat([header(goodSop), element(0x7fe00010, "OW", pixels(1000))]);
      assert.ok((await dcmdumpReads(await asPart10(pacs.dir, "good", goodSop, good))).ok);
      assert.equal((await store(goodSop, good)).status, 0);
      await assoc.release();
      assert.equal(await pacs.stop(), 0);
      const stored = await findDcm(pacs.storage);
      assert.deepEqual(stored.map((p) => p.split("/").pop()), [`${goodSop}.dcm`]);
      const readBack = await dcmdumpReads(stored[0]);
      assert.ok(readBack.ok, readBack.output);
    } finally {
      await pacs.cleanup();
    }
  },
});
