// Shared by the C-MOVE and C-GET service tests: stored objects made in memory, an index
// that matches them with the real matching rules, and a reader that streams them in pieces.
import { type DataElement, encodeDataset, encodingOf } from "../../../src/core/dicom/dataset.ts";
import { encodeFileMetaInformation } from "../../../src/core/dicom/part10.ts";
import type {
  InstanceRef,
  ObjectReader,
  QueryIndex,
  StoredObjectStream,
} from "../../../src/core/ports.ts";
import { rowMatches } from "../../../src/core/query/matching.ts";
import type { Query } from "../../../src/core/query/query.ts";

export const ILE = "1.2.840.10008.1.2";
export const ELE = "1.2.840.10008.1.2.1";
export const JPEG = "1.2.840.10008.1.2.4.50";
export const CT = "1.2.840.10008.5.1.4.1.1.2";
export const MR = "1.2.840.10008.5.1.4.1.1.4";

export interface Stored {
  uid: string;
  sopClassUid: string;
  ts: string;
  study: string;
  series: string;
  patientId: string;
  dataset: Uint8Array;
  part10: Uint8Array;
}

export const ascii = (s: string) => new TextEncoder().encode(s);
let counter = 0;

export function makeStored(
  o: { study: string; series?: string; ts?: string; sopClassUid?: string; pixels?: number } = {
    study: "1.2.3",
  },
): Stored {
  const uid = `1.2.826.0.1.3680043.9.7433.9.${++counter}`;
  const ts = o.ts ?? ELE;
  const sopClassUid = o.sopClassUid ?? CT;
  const series = o.series ?? `${o.study}.1`;
  const pixels = new Uint8Array(o.pixels ?? 512).map((_, i) => (i * 7 + counter) & 0xff);
  const elements: DataElement[] = [
    { tag: 0x00080016, vr: "UI", value: ascii(sopClassUid) },
    { tag: 0x00080018, vr: "UI", value: ascii(uid) },
    {
      tag: 0x00081140,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[
        { tag: 0x00081150, vr: "UI", value: ascii(CT) },
        { tag: 0x00081155, vr: "UI", value: ascii("1.2.3.4.5") },
      ]],
    },
    { tag: 0x00100010, vr: "PN", value: ascii("Doe^Jane") },
    { tag: 0x00100020, vr: "LO", value: ascii("PID1") },
    { tag: 0x0020000d, vr: "UI", value: ascii(o.study) },
    { tag: 0x0020000e, vr: "UI", value: ascii(series) },
  ];
  let dataset: Uint8Array;
  if (ts === JPEG) {
    // Encapsulated pixel data: empty offset table, one fragment, delimiter.
    const head = encodeDataset(elements, encodingOf(ELE));
    const frag = new Uint8Array(8 + 8 + 8 + pixels.length + 8);
    const dv = new DataView(frag.buffer);
    dv.setUint16(0, 0x7fe0, true);
    dv.setUint16(2, 0x0010, true);
    frag.set(ascii("OB"), 4);
    dv.setUint32(8, 0xffffffff, true);
    let at = 12;
    const item = (len: number) => {
      dv.setUint16(at, 0xfffe, true);
      dv.setUint16(at + 2, 0xe000, true);
      dv.setUint32(at + 4, len, true);
      at += 8;
    };
    item(0);
    item(pixels.length);
    frag.set(pixels, at);
    at += pixels.length;
    dv.setUint16(at, 0xfffe, true);
    dv.setUint16(at + 2, 0xe0dd, true);
    dataset = new Uint8Array(head.length + at + 8);
    dataset.set(head);
    dataset.set(frag.subarray(0, at + 8), head.length);
  } else {
    elements.push({ tag: 0x7fe00010, vr: "OW", value: pixels });
    dataset = encodeDataset(elements, encodingOf(ts));
  }
  const meta = encodeFileMetaInformation({
    sopClassUid,
    sopInstanceUid: uid,
    transferSyntaxUid: ts,
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
  });
  const part10 = new Uint8Array(meta.length + dataset.length);
  part10.set(meta);
  part10.set(dataset, meta.length);
  return { uid, sopClassUid, ts, study: o.study, series, patientId: "PID1", dataset, part10 };
}

export class MemoryIndex implements QueryIndex {
  constructor(readonly stored: Stored[]) {}
  find(): AsyncIterable<never> {
    throw new Error("not used");
  }
  async *instancesFor(query: Query): AsyncGenerator<InstanceRef> {
    for (const s of this.stored) {
      const row = {
        patientId: s.patientId,
        studyInstanceUid: s.study,
        seriesInstanceUid: s.series,
        sopInstanceUid: s.uid,
      };
      if (!rowMatches(query.matches, row)) continue;
      yield {
        sopInstanceUid: s.uid,
        sopClassUid: s.sopClassUid,
        transferSyntaxUid: s.ts,
        studyInstanceUid: s.study,
        seriesInstanceUid: s.series,
        location: { kind: "home", path: "", offset: 0, length: s.part10.length },
      };
    }
  }
  readAttributes(): Promise<null> {
    return Promise.resolve(null);
  }
}

export class MemoryObjects implements ObjectReader {
  /** Bytes handed out by the streams, all objects together. */
  pulled = 0;
  constructor(readonly stored: Stored[], readonly chunk = 1000) {}
  readObject(uid: string): Promise<StoredObjectStream | null> {
    const s = this.stored.find((x) => x.uid === uid);
    if (!s) return Promise.resolve(null);
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: (c) => {
        if (at >= s.part10.length) return c.close();
        const piece = s.part10.slice(at, at + this.chunk);
        at += piece.length;
        this.pulled += piece.length;
        c.enqueue(piece);
      },
    });
    return Promise.resolve({
      stream,
      length: s.part10.length,
      transferSyntaxUid: s.ts,
      sopClassUid: s.sopClassUid,
    });
  }
}
