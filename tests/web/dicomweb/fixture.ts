// A running MiniPACS with its web server (and DICOMweb) on free ports, loaded by storescu
// with a small corpus made by DCMTK; helpers to read multipart answers.
import { CORPUS_CLASSES, type CorpusObject, makeObject, newUid } from "../../helpers/corpus.ts";
import {
  hasTool,
  type MiniPacs,
  run,
  startMiniPacs,
  type StartOptions,
} from "../../helpers/server.ts";

export const dicomWebReady = hasTool("dump2dcm") && hasTool("storescu") && hasTool("dcmconv") &&
  hasTool("dcmcjpeg");

/** storescu's option proposing a transfer syntax first. */
const PROPOSE: Record<string, string> = {
  "1.2.840.10008.1.2": "-xi",
  "1.2.840.10008.1.2.2": "-xb",
  "1.2.840.10008.1.2.4.50": "-xy",
};

const spec = (name: string) => CORPUS_CLASSES.find((c) => c.name === name)!;

export interface DicomWebFixture {
  pacs: MiniPacs;
  /** http://127.0.0.1:port/dicom-web */
  root: string;
  dir: string;
  /** A CT study of one series, three instances (Instance Numbers 3, 1, 2 in store order). */
  ct: CorpusObject[];
  /** An MR study of another patient (Roe^Jane), Implicit VR LE. */
  mr: CorpusObject;
  /** A JPEG baseline Ultrasound image, and a Big Endian CT. */
  jpeg: CorpusObject;
  bigEndian: CorpusObject;
  /** The Explicit VR Little Endian file the Big Endian one was made from. */
  bigEndianSource: string;
  all: CorpusObject[];
  close(): Promise<void>;
}

async function convert(obj: CorpusObject, tool: string, args: string[], ts: string) {
  const out = obj.path.replace(/\.dcm$/, `.${tool}.dcm`);
  const r = await run(tool, [...args, obj.path, out]);
  if (r.code !== 0) throw new Error(`${tool} failed: ${r.stderr}`);
  return { ...obj, path: out, transferSyntaxUid: ts };
}

export type DicomWebCorpus = Omit<DicomWebFixture, "pacs" | "root" | "dir" | "close">;

/** The corpus of the DICOMweb tests, written into `dir`. */
export async function makeDicomWebCorpus(dir: string): Promise<DicomWebCorpus> {
  const study = newUid();
  const series = newUid();
  const ct: CorpusObject[] = [];
  for (const n of [3, 1, 2]) {
    ct.push(
      await makeObject({
        spec: spec("CT Image"),
        dir,
        studyInstanceUid: study,
        seriesInstanceUid: series,
        patientId: "PAT-CT",
        patientName: "Doe^John",
        rows: 32,
        instanceNumber: n,
        more: `(0028,1050) DS [100]\n(0028,1051) DS [200]\n` +
          `(0028,1052) DS [-1024]\n(0028,1053) DS [1]\n(0018,0050) DS [2.5]\n`,
      }),
    );
  }
  const mrPlain = await makeObject({
    spec: spec("MR Image"),
    dir,
    patientId: "PAT-MR",
    patientName: "Roe^Jane",
    // A sequence, multi-valued numbers, an AT, a date-time and a private element: in
    // Implicit VR, their VRs come from the dictionary.
    more: [
      "(0008,1032) SQ (Sequence with explicit length #=1)",
      "  (fffe,e000) na (Item with explicit length #=2)",
      "    (0008,0100) SH [CODE1]",
      "    (0008,0102) SH [DCM]",
      "  (fffe,e00d) na (ItemDelimitationItem for re-encoding)",
      "(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)",
      "(0008,002a) DT [20240315101500.25]",
      "(0020,0037) DS [1\\0\\0\\0\\1\\0]",
      "(0028,0030) DS [0.5\\0.5]",
      "(0028,0009) AT (0018,1063)",
      "(0009,0010) LO [MINIPACS TEST]",
      "(0009,1001) LO [private value]",
      "",
    ].join("\n"),
  });
  const mr = await convert(mrPlain, "dcmconv", ["+ti"], "1.2.840.10008.1.2");
  const usPlain = await makeObject({
    spec: spec("Ultrasound Image"),
    dir,
    patientId: "PAT-US",
    patientName: "Poe^Edgar",
    rows: 64,
  });
  const jpeg = await convert(usPlain, "dcmcjpeg", ["+eb", "+un"], "1.2.840.10008.1.2.4.50");
  const bePlain = await makeObject({
    spec: spec("CT Image"),
    dir,
    patientId: "PAT-BE",
    patientName: "Doe^Jane",
  });
  // dcmconv replaces the file: keep the Little Endian original to compare pixels with.
  await Deno.copyFile(bePlain.path, `${dir}/big-endian-source.dcm`);
  const bigEndian = await convert(bePlain, "dcmconv", ["+tb"], "1.2.840.10008.1.2.2");
  const bigEndianSource = `${dir}/big-endian-source.dcm`;
  const all = [...ct, mr, jpeg, bigEndian];
  return { ct, mr, jpeg, bigEndian, bigEndianSource, all };
}

/** Stores objects with storescu, one association each (each proposes its own syntax). */
export async function storeCorpus(port: number, aeTitle: string, all: CorpusObject[]) {
  for (const obj of all) {
    const propose = PROPOSE[obj.transferSyntaxUid] ?? "-xe";
    const r = await run("storescu", [
      propose,
      "-aec",
      aeTitle,
      "127.0.0.1",
      String(port),
      obj.path,
    ]);
    if (r.code !== 0) throw new Error(`storescu failed: ${r.stderr}`);
  }
}

export async function dicomWebFixture(options: StartOptions = {}): Promise<DicomWebFixture> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-" });
  const corpus = await makeDicomWebCorpus(dir);
  const pacs = await startMiniPacs({
    http: { enabled: true, port: 0, bind: "127.0.0.1" },
    ...options,
  });
  try {
    await storeCorpus(pacs.port, "MINIPACS", corpus.all);
  } catch (e) {
    await pacs.cleanup();
    throw e;
  }
  return {
    pacs,
    root: `http://127.0.0.1:${pacs.httpPort}/dicom-web`,
    dir,
    ...corpus,
    close: async () => {
      await pacs.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

export interface Part {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Splits a buffered multipart/related answer into its parts. */
export function parseMultipart(contentType: string, body: Uint8Array): Part[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = new TextEncoder().encode(`--${boundary}`);
  const starts: number[] = [];
  for (let i = body.indexOf(delimiter[0]); i >= 0; i = body.indexOf(delimiter[0], i + 1)) {
    if (delimiter.every((b, k) => body[i + k] === b)) starts.push(i);
  }
  const parts: Part[] = [];
  for (let p = 0; p + 1 < starts.length; p++) {
    const start = starts[p] + delimiter.length + 2; // CRLF
    let end = starts[p + 1];
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    const chunk = body.subarray(start, end);
    let headerEnd = 0;
    for (let i = 0; i + 3 < chunk.length; i++) {
      if (chunk[i] === 13 && chunk[i + 1] === 10 && chunk[i + 2] === 13 && chunk[i + 3] === 10) {
        headerEnd = i;
        break;
      }
    }
    const headers: Record<string, string> = {};
    for (const line of new TextDecoder().decode(chunk.subarray(0, headerEnd)).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    parts.push({ headers, body: chunk.slice(headerEnd + 4) });
  }
  return parts;
}

/** GET with an Accept header; the status, content type and body bytes. */
export async function get(
  url: string,
  accept?: string,
): Promise<{ status: number; type: string; body: Uint8Array; headers: Headers }> {
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {} });
  return {
    status: res.status,
    type: res.headers.get("Content-Type") ?? "",
    body: new Uint8Array(await res.arrayBuffer()),
    headers: res.headers,
  };
}

export const json = (body: Uint8Array) => JSON.parse(new TextDecoder().decode(body));
