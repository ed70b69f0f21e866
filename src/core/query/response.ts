// C-FIND response identifiers (PS3.4 C.4.1.1.3.2): every key of the request comes back, with
// the value when known and zero length when not; Specific Character Set, Query/Retrieve Level
// and Retrieve AE Title are always filled. Text goes out in the query's character set when it
// can hold it, otherwise in ISO_IR 192 (UTF-8).
import { encodeString } from "../dicom/charset.ts";
import {
  type DataElement,
  encodeDataset,
  type Encoding,
  encodingOf,
  isStringVr,
  textOf,
  usesCharset,
} from "../dicom/dataset.ts";
import {
  entityVisibleAt,
  INDEX_KEYS,
  INSTANCE_AVAILABILITY,
  QUERY_RETRIEVE_LEVEL,
  RETRIEVE_AE_TITLE,
  SPECIFIC_CHARACTER_SET,
} from "./keys.ts";
import type { Query, QueryRow } from "./query.ts";

export const UTF8_CHARSET = "ISO_IR 192";

/** Attributes read from a matched instance's stored file (IMAGE level). */
export interface FileAttributes {
  elements: DataElement[];
  specificCharacterSet: string;
}

type Slot =
  | { tag: number; vr: string; kind: "field"; field: string }
  | { tag: number; vr: string; kind: "text"; text: string }
  | { tag: number; vr: string; kind: "file"; item?: DataElement[] }
  | { tag: number; vr: string; kind: "empty"; element: DataElement }
  | { tag: number; vr: string; kind: "charset" };

/** A value on its way out: text to encode in the chosen character set, or bytes as they are. */
type Out =
  | { tag: number; vr: string; text: string }
  | { tag: number; vr: string; element: DataElement }
  | { tag: number; vr: "SQ"; items: Out[][] };

export class ResponseBuilder {
  readonly #slots: Slot[];
  readonly #encoding: Encoding;
  readonly #charset: string;

  constructor(query: Query, options: { aeTitle: string; transferSyntaxUid: string }) {
    this.#encoding = encodingOf(options.transferSyntaxUid);
    this.#charset = query.specificCharacterSet;
    const slots = new Map<number, Slot>();
    const fileTags = new Set(query.fileTags);
    for (const el of query.identifier) {
      const key = INDEX_KEYS.get(el.tag);
      let slot: Slot;
      if (el.tag === SPECIFIC_CHARACTER_SET) slot = { tag: el.tag, vr: "CS", kind: "charset" };
      else if (el.tag === QUERY_RETRIEVE_LEVEL) {
        slot = { tag: el.tag, vr: "CS", kind: "text", text: query.level };
      } else if (el.tag === RETRIEVE_AE_TITLE) {
        slot = { tag: el.tag, vr: "AE", kind: "text", text: options.aeTitle };
      } else if (el.tag === INSTANCE_AVAILABILITY) {
        slot = { tag: el.tag, vr: "CS", kind: "text", text: "ONLINE" };
      } else if (key && entityVisibleAt(key.entity, query.level)) {
        slot = { tag: el.tag, vr: key.vr, kind: "field", field: key.field };
      } else if (fileTags.has(el.tag)) {
        const item = el.items?.length === 1 && el.items[0].length ? el.items[0] : undefined;
        slot = { tag: el.tag, vr: el.items ? "SQ" : el.vr, kind: "file", item };
      } else {
        const vr = el.items ? "SQ" : el.vr;
        const element: DataElement = vr === "SQ"
          ? { tag: el.tag, vr: "SQ", value: new Uint8Array(0), items: [] }
          : { tag: el.tag, vr, value: new Uint8Array(0) };
        slot = { tag: el.tag, vr, kind: "empty", element };
      }
      slots.set(el.tag, slot);
    }
    if (!slots.has(SPECIFIC_CHARACTER_SET)) {
      slots.set(SPECIFIC_CHARACTER_SET, { tag: SPECIFIC_CHARACTER_SET, vr: "CS", kind: "charset" });
    }
    if (!slots.has(QUERY_RETRIEVE_LEVEL)) {
      slots.set(QUERY_RETRIEVE_LEVEL, {
        tag: QUERY_RETRIEVE_LEVEL,
        vr: "CS",
        kind: "text",
        text: query.level,
      });
    }
    if (!slots.has(RETRIEVE_AE_TITLE)) {
      slots.set(RETRIEVE_AE_TITLE, {
        tag: RETRIEVE_AE_TITLE,
        vr: "AE",
        kind: "text",
        text: options.aeTitle,
      });
    }
    this.#slots = [...slots.values()].sort((a, b) => a.tag - b.tag);
  }

  /** The response identifier for one match, encoded in the context's transfer syntax. */
  build(row: QueryRow, file?: FileAttributes): Uint8Array {
    const outs: Out[] = [];
    for (const s of this.#slots) {
      switch (s.kind) {
        case "field":
          outs.push({ tag: s.tag, vr: s.vr, text: row[s.field] ?? "" });
          break;
        case "text":
          outs.push({ tag: s.tag, vr: s.vr, text: s.text });
          break;
        case "file":
          outs.push(...fileValue(s, file));
          break;
        case "empty":
          outs.push({ tag: s.tag, vr: s.vr, element: s.element });
          break;
        case "charset":
          break;
      }
    }
    // Each text encoded once: in the query's character set, or all again in UTF-8 when one
    // does not fit it.
    let charset = this.#charset;
    let elements = charset !== "" ? toElements(outs, charset) : null;
    if (elements === null) {
      charset = UTF8_CHARSET;
      elements = toElements(outs, charset)!; // UTF-8 holds any text
    }
    elements.unshift({
      tag: SPECIFIC_CHARACTER_SET,
      vr: "CS",
      value: encodeString(charset, "")!,
    });
    return encodeDataset(elements, this.#encoding);
  }
}

/** The values as elements with their text in `charset`; null when a text does not fit it. */
function toElements(outs: readonly Out[], charset: string): DataElement[] | null {
  const elements: DataElement[] = [];
  for (const o of outs) {
    const el = toElement(o, charset);
    if (el === null) return null;
    elements.push(el);
  }
  return elements;
}

function toElement(o: Out, charset: string): DataElement | null {
  if ("element" in o) return o.element;
  if ("items" in o) {
    const items: DataElement[][] = [];
    for (const item of o.items) {
      const elements = toElements(item, charset);
      if (elements === null) return null;
      items.push(elements);
    }
    return { tag: o.tag, vr: "SQ", value: new Uint8Array(0), items };
  }
  const value = encodeString(o.text, charset);
  return value === null ? null : { tag: o.tag, vr: o.vr, value };
}

/** The value of a file-read key: text to re-encode, other values as stored. */
function fileValue(s: Slot & { kind: "file" }, file?: FileAttributes): Out[] {
  const el = file?.elements.find((e) => e.tag === s.tag);
  if (!el || !file) {
    const items = s.vr === "SQ" ? [] : undefined;
    return [{
      tag: s.tag,
      vr: s.vr,
      element: { tag: s.tag, vr: s.vr, value: new Uint8Array(0), items },
    }];
  }
  if (el.items) {
    const items = s.item ? el.items.map((i) => restrictItem(i, s.item!)) : el.items;
    return [{
      tag: s.tag,
      vr: "SQ",
      items: items.map((i) => outsOf(i, file.specificCharacterSet)),
    }];
  }
  return outsOf(
    [el.vr === "UN" && s.vr !== "UN" ? { ...el, vr: s.vr } : el],
    file.specificCharacterSet,
  );
}

/** Stored elements as outgoing values: text decoded with the file's character set. */
function outsOf(elements: DataElement[], charset: string): Out[] {
  return elements.map((el): Out => {
    if (el.items) {
      return { tag: el.tag, vr: "SQ", items: el.items.map((i) => outsOf(i, charset)) };
    }
    if (isStringVr(el.vr) && (usesCharset(el.vr) || !isAscii(el.value))) {
      return { tag: el.tag, vr: el.vr, text: textOf(el, charset) };
    }
    return { tag: el.tag, vr: el.vr, element: el };
  });
}

/** An item cut down to the keys the query's item names (zero length where absent). */
function restrictItem(item: DataElement[], keys: DataElement[]): DataElement[] {
  return keys.map((k) =>
    item.find((e) => e.tag === k.tag) ??
      { tag: k.tag, vr: k.vr, value: new Uint8Array(0), items: k.items ? [] : undefined }
  );
}

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80 || b === 0x1b) return false;
  return true;
}
