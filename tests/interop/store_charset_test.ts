// Patient's Name in four character sets (PS3.5 6.1; the examples of Annexes H and K), sent
// as raw bytes: the index holds the decoded Unicode string, the stored file the bytes sent.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  decodeFileMetaInformation,
  encodeFileMetaInformation,
} from "../../src/core/dicom/part10.ts";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { EXPLICIT_LE, openAssociation } from "../helpers/scu.ts";
import { hasTool, type MiniPacs, run, startMiniPacs } from "../helpers/server.ts";
import { concat, element } from "../helpers/dataset_writer.ts";

const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";

/** One Explicit VR Little Endian element (PS3.5 7.1.2); the value is padded to even length. */

/** ASCII text and raw bytes, in order. */
function bytes(...parts: (string | number[])[]): Uint8Array {
  return concat(
    parts.map((p) =>
      typeof p === "string"
        ? Uint8Array.from(p, (c) => {
          const code = c.charCodeAt(0);
          assert.ok(code < 0x100, `not one byte: ${c}`);
          return code;
        })
        : Uint8Array.from(p)
    ),
  );
}

const ESC = 0x1b;
/** ISO 2022 escape sequences (PS3.3 Table C.12-4). */
const TO_JIS_X_0208 = [ESC, 0x24, 0x42]; // ESC $ B
const TO_ASCII = [ESC, 0x28, 0x42]; // ESC ( B

interface Case {
  charset: string;
  /** Patient's Name (0010,0010) as sent. */
  name: Uint8Array;
  expected: string;
}

const CASES: Case[] = [
  {
    // Latin-1: one byte per character (ü = 0xFC).
    charset: "ISO_IR 100",
    name: bytes("M", [0xfc], "ller^J", [0xfc], "rgen"),
    expected: "Müller^Jürgen",
  },
  {
    charset: "ISO_IR 192",
    name: new TextEncoder().encode("Wang^XiaoDong=王^小東"),
    expected: "Wang^XiaoDong=王^小東",
  },
  {
    // PS3.5 H.3.1: G0 switched to JIS X 0208 and back around each ideographic or phonetic group.
    charset: "\\ISO 2022 IR 87",
    name: bytes(
      "Yamada^Tarou=",
      TO_JIS_X_0208,
      ";3ED",
      TO_ASCII,
      "^",
      TO_JIS_X_0208,
      "B@O:",
      TO_ASCII,
      "=",
      TO_JIS_X_0208,
      "$d$^$@",
      TO_ASCII,
      "^",
      TO_JIS_X_0208,
      "$?$m$&",
      TO_ASCII,
    ),
    expected: "Yamada^Tarou=山田^太郎=やまだ^たろう",
  },
  {
    // PS3.5 K.2: 王 = CD F5, 小 = D0 A1, 东 = B6 AB in GB 18030.
    charset: "GB18030",
    name: bytes("Wang^XiaoDong=", [0xcd, 0xf5], "^", [0xd0, 0xa1, 0xb6, 0xab]),
    expected: "Wang^XiaoDong=王^小东",
  },
];

const BASE = `2.25.${crypto.getRandomValues(new Uint32Array(2)).join("")}`;

interface Made {
  sop: string;
  dataset: Uint8Array;
  c: Case;
}

function makeDataset(c: Case, i: number, tag: string): Made {
  const sop = `${BASE}.${tag}.${i}`;
  const dataset = concat([
    element(0x00080005, "CS", c.charset),
    element(0x00080016, "UI", SECONDARY_CAPTURE),
    element(0x00080018, "UI", sop),
    element(0x00080060, "CS", "OT"),
    element(0x00100010, "PN", c.name),
    element(0x00100020, "LO", `CHARSET${tag}${i}`),
    element(0x0020000d, "UI", `${BASE}.${tag}.${i}.1`),
    element(0x0020000e, "UI", `${BASE}.${tag}.${i}.2`),
  ]);
  return { sop, dataset, c };
}

async function assertIndexed(storage: string, made: Made[]): Promise<void> {
  const db = new DatabaseSync(`${storage}/index.sqlite`, { readOnly: true });
  try {
    const query = db.prepare(
      `SELECT p.patient_name AS name, i.specific_character_set AS charset, i.home_path AS home
         FROM instance i JOIN series s ON s.pk = i.series_pk JOIN study st ON st.pk = s.study_pk
         JOIN patient p ON p.pk = st.patient_pk WHERE i.sop_instance_uid = ?`,
    );
    for (const m of made) {
      const row = query.get(m.sop) as { name: string; charset: string; home: string } | undefined;
      assert.ok(row, `${m.c.charset}: indexed`);
      assert.equal(row.name, m.c.expected, `${m.c.charset}: Patient's Name decoded`);
      assert.equal(row.charset, m.c.charset);
      const part10 = await Deno.readFile(`${storage}/${row.home}`);
      const { datasetOffset } = decodeFileMetaInformation(part10);
      assert.deepEqual(part10.subarray(datasetOffset), m.dataset, `${m.c.charset}: bytes kept`);
    }
  } finally {
    db.close();
  }
}

/**
 * SIGTERM, once the server handles it: it installs its handler after "MiniPACS started" and
 * Deno arms it a moment later; a SIGTERM sent sooner kills it without a clean stop.
 */
async function stopCleanly(pacs: MiniPacs): Promise<number> {
  await pacs.waitForLog(/MiniPACS started/);
  await new Promise((r) => setTimeout(r, 50));
  return await pacs.stop();
}

Deno.test("the test's GB18030 and Latin-1 name bytes decode to the names expected", () => {
  const gb = CASES.find((c) => c.charset === "GB18030")!;
  assert.equal(new TextDecoder("gb18030").decode(gb.name), gb.expected);
  const latin = CASES.find((c) => c.charset === "ISO_IR 100")!;
  assert.equal(new TextDecoder("latin1").decode(latin.name), latin.expected);
});

Deno.test("Patient's Name in ISO_IR 100, ISO_IR 192, ISO 2022 IR 87 and GB18030 is indexed as Unicode", async () => {
  const pacs = await startMiniPacs();
  try {
    const made = CASES.map((c, i) => makeDataset(c, i, "1"));
    const assoc = await openAssociation(pacs.port, {
      contexts: [{ id: 1, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [EXPLICIT_LE] }],
    });
    for (const m of made) {
      const rsp = await assoc.request(1, {
        commandField: CommandField.CStoreRq,
        commandDataSetType: DATASET_PRESENT,
        affectedSopClassUid: SECONDARY_CAPTURE,
        affectedSopInstanceUid: m.sop,
        priority: 0,
      }, m.dataset);
      assert.equal(rsp.command.status, 0, m.c.charset);
    }
    await assoc.release();
    assert.equal(await stopCleanly(pacs), 0);
    await assertIndexed(pacs.storage, made);
  } finally {
    await pacs.cleanup();
  }
});

Deno.test({
  name: "the same four names sent by storescu from Part 10 files are indexed as Unicode",
  ignore: !hasTool("storescu"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minipacs-charset-" });
    const pacs = await startMiniPacs();
    try {
      const made = CASES.map((c, i) => makeDataset(c, i, "2"));
      const files: string[] = [];
      for (const m of made) {
        const meta = encodeFileMetaInformation({
          sopClassUid: SECONDARY_CAPTURE,
          sopInstanceUid: m.sop,
          transferSyntaxUid: EXPLICIT_LE,
          implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.3",
          implementationVersionName: "CHARSETTEST",
        });
        const path = `${dir}/${m.sop}.dcm`;
        await Deno.writeFile(path, concat([meta, m.dataset]));
        files.push(path);
      }
      const r = await run("storescu", [
        "-aec",
        "MINIPACS",
        "127.0.0.1",
        String(pacs.port),
        ...files,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await stopCleanly(pacs), 0);
      await assertIndexed(pacs.storage, made);
    } finally {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
