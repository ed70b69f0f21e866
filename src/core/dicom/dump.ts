// A readable dump of a stored object's dataset, like DCMTK's dcmdump: one line per element
// with tag, VR, keyword and value; sequence items nested; long values cut; Pixel Data only
// summarised (its size and whether it is encapsulated, PS3.5 A.4), never read.
import {
  charsetOf,
  type DataElement,
  decodeDatasetPart,
  encodingOf,
  isStringVr,
  numbersOf,
  textOf,
} from "./dataset.ts";
import { decodeFileMetaInformation } from "./part10.ts";
import { Tag, tagString } from "./tags.ts";
import { TRANSFER_SYNTAXES } from "./transfer_syntaxes.ts";
import { LONG_VRS } from "./vr.ts";
import { dictionaryEntry } from "./dictionary.ts";

/** One line of the dump. */
export interface DumpLine {
  /** Nesting depth: 0 at the top level, +1 for an item, +2 for its elements... */
  depth: number;
  /** "(0010,0010)" */
  tag: string;
  /** "PN"; "na" for items. */
  vr: string;
  /** The dictionary keyword ("PatientName"), "Item #1", or "" when unknown (private). */
  name: string;
  /** The value as text, cut to the maximum with "..." after it. */
  value: string;
  /** The value length in bytes. */
  length: number;
}

export interface DicomDump {
  transferSyntaxUid: string;
  lines: DumpLine[];
  /** The Pixel Data summary, when the object has one. */
  pixelData: string | null;
}

export interface DumpOptions {
  /** Values longer than this many characters are cut (default 64). */
  maxValueLength?: number;
  /** At most this many values of a multi-valued binary element (default 16). */
  maxValues?: number;
}

function keyword(tag: number): string {
  if (((tag >>> 16) & 1) === 1) return ""; // private group
  return dictionaryEntry(tag)?.keyword ?? "";
}

function cut(text: string, max: number): string {
  return [...text].length > max ? `${[...text].slice(0, max).join("")}...` : text;
}

function hexBytes(bytes: Uint8Array, n: number): string {
  const shown = Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, "0"));
  return shown.join("\\") + (bytes.length > n ? "\\..." : "");
}

/** The value of one element as dcmdump would show it. */
function valueText(el: DataElement, charset: string, o: Required<DumpOptions>): string {
  if (el.vr === "AT") {
    const out: string[] = [];
    const dv = new DataView(el.value.buffer, el.value.byteOffset, el.value.byteLength);
    for (let i = 0; i + 4 <= el.value.length; i += 4) {
      out.push(tagString(((dv.getUint16(i, true) << 16) | dv.getUint16(i + 2, true)) >>> 0));
    }
    return cut(out.join("\\"), o.maxValueLength);
  }
  if (isStringVr(el.vr)) {
    return `[${cut(textOf(el, charset), o.maxValueLength)}]`;
  }
  const numbers = numbersOf(el);
  if (numbers.length > 0 || ["US", "SS", "UL", "SL", "FL", "FD", "SV", "UV"].includes(el.vr)) {
    const shown = numbers.slice(0, o.maxValues).map((n) => String(n)).join("\\");
    return cut(shown + (numbers.length > o.maxValues ? "\\..." : ""), o.maxValueLength);
  }
  if (el.value.length === 0) return "(no value)";
  return hexBytes(el.value, 16);
}

/** Dump lines of an element list (recursing into sequence items). */
export function dumpElements(
  elements: readonly DataElement[],
  specificCharacterSet: string,
  options: DumpOptions = {},
  depth = 0,
): DumpLine[] {
  const o = { maxValueLength: 64, maxValues: 16, ...options };
  const out: DumpLine[] = [];
  // An item may declare its own character set (PS3.5 6.1.2.5.2).
  const charset = charsetOf(elements) || specificCharacterSet;
  for (const el of elements) {
    if (el.items) {
      out.push({
        depth,
        tag: tagString(el.tag),
        vr: "SQ",
        name: keyword(el.tag),
        value: `(${el.items.length} item${el.items.length === 1 ? "" : "s"})`,
        length: 0,
      });
      el.items.forEach((item, i) => {
        out.push({
          depth: depth + 1,
          tag: tagString(Tag.Item),
          vr: "na",
          name: `Item #${i + 1}`,
          value: "",
          length: 0,
        });
        out.push(...dumpElements(item, charset, o, depth + 2));
      });
      continue;
    }
    out.push({
      depth,
      tag: tagString(el.tag),
      vr: el.vr,
      name: keyword(el.tag),
      value: valueText(el, charset, o),
      length: el.value.length,
    });
  }
  return out;
}

/**
 * Dumps a Part 10 object from its first bytes: `head` must reach Pixel Data (or the end of
 * the object); `total` is the object's whole length, for the Pixel Data summary.
 */
export function dumpPart10(head: Uint8Array, total: number, options: DumpOptions = {}): DicomDump {
  const { meta, datasetOffset } = decodeFileMetaInformation(head);
  const ts = meta.transferSyntaxUid;
  const dataset = head.subarray(datasetOffset);
  const part = decodeDatasetPart(dataset, encodingOf(ts), { allowTruncated: true });
  const charset = charsetOf(part.elements);
  const lines = dumpElements(part.elements, charset, options);
  let pixelData: string | null = null;
  if (part.stopped) {
    pixelData = pixelSummary(dataset.subarray(part.end), total - datasetOffset - part.end, {
      explicit: TRANSFER_SYNTAXES.get(ts)?.explicitVr ?? true,
      encapsulatedSyntax: TRANSFER_SYNTAXES.get(ts)?.encapsulated ?? false,
      elements: part.elements,
    });
  }
  return { transferSyntaxUid: ts, lines, pixelData };
}

/** "native, 512 x 512, 16 bits allocated, 1 frame, 524288 bytes" or "encapsulated...". */
function pixelSummary(
  at: Uint8Array,
  remaining: number,
  o: { explicit: boolean; encapsulatedSyntax: boolean; elements: readonly DataElement[] },
): string {
  const number = (tag: number) => {
    const el = o.elements.find((e) => e.tag === tag);
    if (!el) return undefined;
    const n = numbersOf(el);
    if (n.length) return n[0];
    const text = textOf(el, "").trim();
    return text && Number.isFinite(Number(text)) ? Number(text) : undefined;
  };
  const rows = number(0x00280010);
  const columns = number(0x00280011);
  const bits = number(0x00280100);
  const frames = number(0x00280008) ?? 1;
  const size = rows !== undefined && columns !== undefined ? `${columns} x ${rows}, ` : "";
  const depth = bits !== undefined ? `${bits} bits allocated, ` : "";
  const frameText = `${frames} frame${frames === 1 ? "" : "s"}`;
  let length = remaining - (o.explicit ? 12 : 8);
  let encapsulated = o.encapsulatedSyntax;
  if (at.length >= 12) {
    const dv = new DataView(at.buffer, at.byteOffset, at.byteLength);
    const vrText = String.fromCharCode(at[4], at[5]);
    const declared = o.explicit && LONG_VRS.has(vrText)
      ? dv.getUint32(8, true)
      : dv.getUint32(4, true);
    encapsulated = declared === 0xffffffff;
    if (!encapsulated) length = declared;
  }
  return encapsulated
    ? `encapsulated (compressed), ${size}${depth}${frameText}, ${Math.max(0, length)} bytes`
    : `native, ${size}${depth}${frameText}, ${Math.max(0, length)} bytes`;
}

/** The dump as text, one element per line, indented by depth (dcmdump's layout). */
export function dumpText(dump: DicomDump): string {
  const out = [`# Transfer Syntax ${dump.transferSyntaxUid}`];
  for (const l of dump.lines) {
    const indent = "  ".repeat(l.depth);
    out.push(`${indent}${l.tag} ${l.vr} ${l.value}`.padEnd(60) + ` # ${l.length}, ${l.name}`);
  }
  if (dump.pixelData) out.push(`${tagString(Tag.PixelData)} -- Pixel Data: ${dump.pixelData}`);
  return out.join("\n") + "\n";
}
