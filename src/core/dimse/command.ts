// DIMSE command sets (PS3.7 9.3, 10.3, Annex E). A command set is group 0000 only and is
// always encoded in Implicit VR Little Endian, whatever the presentation context says.

/** Command Field (0000,0100) values (PS3.7 E.1). */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NGetRq: 0x0110,
  NGetRsp: 0x8110,
  NSetRq: 0x0120,
  NSetRsp: 0x8120,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
  NCreateRq: 0x0140,
  NCreateRsp: 0x8140,
  NDeleteRq: 0x0150,
  NDeleteRsp: 0x8150,
  CCancelRq: 0x0FFF,
} as const;

/** The bit a response's Command Field adds to its request's (PS3.7 E.1: C-STORE-RSP 0x8001). */
export const RESPONSE_BIT = 0x8000;

/** True for a response's Command Field (PS3.7 E.1). */
export function isResponseField(field: number): boolean {
  return (field & RESPONSE_BIT) !== 0;
}

/** Priority (0000,0700) values (PS3.7 9.3.1.1). */
export const Priority = { Low: 0x0002, Medium: 0x0000, High: 0x0001 } as const;

/** (0000,0800) Command Data Set Type "null": no dataset follows. Any other value: one does. */
export const NO_DATASET = 0x0101;
/**
 * The non-null Command Data Set Type we send with a dataset: 0x0001, as pynetdicom and GDCM do
 * (GDCM checks for it and aborts on another value). We read any value but 0x0101 as present.
 */
export const DATASET_PRESENT = 0x0001;

export interface Command {
  /** (0000,0100) */
  commandField: number;
  /** (0000,0800); NO_DATASET, or any other value when a dataset follows. */
  commandDataSetType: number;
  /** (0000,0110) */
  messageId?: number;
  /** (0000,0120) */
  messageIdBeingRespondedTo?: number;
  /** (0000,0002) */
  affectedSopClassUid?: string;
  /** (0000,0003) */
  requestedSopClassUid?: string;
  /** (0000,1000) */
  affectedSopInstanceUid?: string;
  /** (0000,1001) */
  requestedSopInstanceUid?: string;
  /** (0000,0700) */
  priority?: number;
  /** (0000,0900) */
  status?: number;
  /** (0000,0901) AT, tags as 0xGGGGEEEE. */
  offendingElement?: number[];
  /** (0000,0902) LO, at most 64 characters (longer is cut on encode). */
  errorComment?: string;
  /** (0000,0903) */
  errorId?: number;
  /** (0000,0600) AE */
  moveDestination?: string;
  /** (0000,1030) AE */
  moveOriginatorAeTitle?: string;
  /** (0000,1031) */
  moveOriginatorMessageId?: number;
  /** (0000,1002) N-EVENT-REPORT Event Type ID */
  eventTypeId?: number;
  /** (0000,1008) N-ACTION Action Type ID */
  actionTypeId?: number;
  /** (0000,1020) */
  numberOfRemainingSuboperations?: number;
  /** (0000,1021) */
  numberOfCompletedSuboperations?: number;
  /** (0000,1022) */
  numberOfFailedSuboperations?: number;
  /** (0000,1023) */
  numberOfWarningSuboperations?: number;
  /** Elements not modelled above (retired or N-service ones): kept raw for a round trip. */
  other?: { tag: number; value: Uint8Array }[];
}

/** A malformed command set or a DIMSE protocol violation. */
export class DimseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DimseError";
  }
}

type UsKey =
  | "commandField"
  | "commandDataSetType"
  | "messageId"
  | "messageIdBeingRespondedTo"
  | "priority"
  | "status"
  | "errorId"
  | "moveOriginatorMessageId"
  | "eventTypeId"
  | "actionTypeId"
  | "numberOfRemainingSuboperations"
  | "numberOfCompletedSuboperations"
  | "numberOfFailedSuboperations"
  | "numberOfWarningSuboperations";

type StringKey =
  | "affectedSopClassUid"
  | "requestedSopClassUid"
  | "affectedSopInstanceUid"
  | "requestedSopInstanceUid"
  | "errorComment"
  | "moveDestination"
  | "moveOriginatorAeTitle";

type Field =
  | { tag: number; vr: "US"; key: UsKey }
  | { tag: number; vr: "UI" | "AE" | "LO"; key: StringKey }
  | { tag: number; vr: "AT"; key: "offendingElement" };

// PS3.7 E.1, in ascending tag order.
const FIELDS: readonly Field[] = [
  { tag: 0x00000002, vr: "UI", key: "affectedSopClassUid" },
  { tag: 0x00000003, vr: "UI", key: "requestedSopClassUid" },
  { tag: 0x00000100, vr: "US", key: "commandField" },
  { tag: 0x00000110, vr: "US", key: "messageId" },
  { tag: 0x00000120, vr: "US", key: "messageIdBeingRespondedTo" },
  { tag: 0x00000600, vr: "AE", key: "moveDestination" },
  { tag: 0x00000700, vr: "US", key: "priority" },
  { tag: 0x00000800, vr: "US", key: "commandDataSetType" },
  { tag: 0x00000900, vr: "US", key: "status" },
  { tag: 0x00000901, vr: "AT", key: "offendingElement" },
  { tag: 0x00000902, vr: "LO", key: "errorComment" },
  { tag: 0x00000903, vr: "US", key: "errorId" },
  { tag: 0x00001000, vr: "UI", key: "affectedSopInstanceUid" },
  { tag: 0x00001001, vr: "UI", key: "requestedSopInstanceUid" },
  { tag: 0x00001002, vr: "US", key: "eventTypeId" },
  { tag: 0x00001008, vr: "US", key: "actionTypeId" },
  { tag: 0x00001020, vr: "US", key: "numberOfRemainingSuboperations" },
  { tag: 0x00001021, vr: "US", key: "numberOfCompletedSuboperations" },
  { tag: 0x00001022, vr: "US", key: "numberOfFailedSuboperations" },
  { tag: 0x00001023, vr: "US", key: "numberOfWarningSuboperations" },
  { tag: 0x00001030, vr: "AE", key: "moveOriginatorAeTitle" },
  { tag: 0x00001031, vr: "US", key: "moveOriginatorMessageId" },
];
const FIELD_BY_TAG = new Map(FIELDS.map((f) => [f.tag, f]));

const GROUP_LENGTH_TAG = 0x00000000;
const COMMAND_FIELD_TAG = 0x00000100;
const MAX_ERROR_COMMENT = 64;

/** True when a dataset follows this command (PS3.7 9.3.1, (0000,0800)). */
export function hasDataset(cmd: Command): boolean {
  return cmd.commandDataSetType !== NO_DATASET;
}

function asciiBytes(s: string, pad: number): Uint8Array {
  const len = s.length + (s.length & 1);
  const out = new Uint8Array(len);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i] = c >= 0x20 && c < 0x7f ? c : 0x3f; // default repertoire only; "?" otherwise
  }
  if (len > s.length) out[len - 1] = pad;
  return out;
}

function checkRange(tag: number, n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new DimseError(`${tagText(tag)}: value ${n} out of range`);
  }
  return n;
}

function encodeField(f: Field, cmd: Command): Uint8Array | undefined {
  switch (f.vr) {
    case "US": {
      const n = cmd[f.key];
      if (n === undefined) return undefined;
      const b = new Uint8Array(2);
      new DataView(b.buffer).setUint16(0, checkRange(f.tag, n, 0xffff), true);
      return b;
    }
    case "AT": {
      const tags = cmd.offendingElement;
      if (tags === undefined) return undefined;
      const b = new Uint8Array(tags.length * 4);
      const dv = new DataView(b.buffer);
      tags.forEach((t, i) => {
        checkRange(f.tag, t, 0xffffffff);
        dv.setUint16(i * 4, t >>> 16, true);
        dv.setUint16(i * 4 + 2, t & 0xffff, true);
      });
      return b;
    }
    default: {
      let s = cmd[f.key];
      if (s === undefined) return undefined;
      if (f.vr === "LO" && s.length > MAX_ERROR_COMMENT) s = s.slice(0, MAX_ERROR_COMMENT);
      return asciiBytes(s, f.vr === "UI" ? 0x00 : 0x20); // PS3.5 6.2: UI pads NUL, others space
    }
  }
}

/** Encodes a command set with its (0000,0000) group length, elements in ascending tag order. */
export function encodeCommand(cmd: Command): Uint8Array {
  if (cmd.other === undefined || cmd.other.length === 0) return encodeFields(cmd);
  const elements: { tag: number; value: Uint8Array }[] = [];
  for (const f of FIELDS) {
    const value = encodeField(f, cmd);
    if (value !== undefined) elements.push({ tag: f.tag, value });
  }
  for (const o of cmd.other ?? []) {
    if ((o.tag >>> 16) !== 0) {
      throw new DimseError(`${tagText(o.tag)} is not a command element`);
    }
    if (o.tag === GROUP_LENGTH_TAG || FIELD_BY_TAG.has(o.tag)) continue; // modelled wins
    elements.push(o);
  }
  elements.sort((a, b) => a.tag - b.tag);
  let groupLength = 0;
  for (const e of elements) groupLength += 8 + e.value.length;
  const out = new Uint8Array(12 + groupLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, 4, true); // (0000,0000) UL, length 4
  dv.setUint32(8, groupLength, true);
  let off = 12;
  for (const e of elements) {
    dv.setUint16(off, e.tag >>> 16, true);
    dv.setUint16(off + 2, e.tag & 0xffff, true);
    dv.setUint32(off + 4, e.value.length, true);
    out.set(e.value, off + 8);
    off += 8 + e.value.length;
  }
  return out;
}

function decodeString(bytes: Uint8Array, trimLeading: boolean): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x20)) end--;
  let start = 0;
  if (trimLeading) { while (start < end && bytes[start] === 0x20) start++; }
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/**
 * Decodes an Implicit VR Little Endian command set. Tolerant of a missing group length,
 * retired or unknown group-0000 elements (kept in `other`), odd lengths and trailing
 * NUL/space padding. Throws DimseError on truncation, elements outside group 0000,
 * undefined lengths or a missing (0000,0100).
 */
export function decodeCommand(bytes: Uint8Array): Command {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const us: { [K in UsKey]?: number } = {};
  const str: { [K in StringKey]?: string } = {};
  let offendingElement: number[] | undefined;
  const other: { tag: number; value: Uint8Array }[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (off + 8 > bytes.length) {
      throw new DimseError(`command set truncated in an element header at byte ${off}`);
    }
    const tag = ((dv.getUint16(off, true) << 16) | dv.getUint16(off + 2, true)) >>> 0;
    const len = dv.getUint32(off + 4, true);
    off += 8;
    if ((tag >>> 16) !== 0) throw new DimseError(`${tagText(tag)} is not a command element`);
    if (len === 0xffffffff) throw new DimseError(`${tagText(tag)} has an undefined length`);
    if (len > bytes.length - off) {
      throw new DimseError(`command set truncated: ${tagText(tag)} needs ${len} bytes`);
    }
    const value = bytes.subarray(off, off + len);
    off += len;
    const f = FIELD_BY_TAG.get(tag);
    if (f === undefined) {
      if (tag !== GROUP_LENGTH_TAG) other.push({ tag, value: value.slice() });
    } else if (f.vr === "US") {
      if (len === 0) continue; // empty: treat as absent
      if (len < 2) throw new DimseError(`${tagText(tag)} US value of ${len} byte`);
      us[f.key] = dv.getUint16(value.byteOffset - bytes.byteOffset, true);
    } else if (f.vr === "AT") {
      if (len % 4 !== 0) throw new DimseError(`${tagText(tag)} AT value of ${len} bytes`);
      offendingElement = [];
      for (let i = 0; i < len; i += 4) {
        const at = value.byteOffset - bytes.byteOffset + i;
        offendingElement.push(
          ((dv.getUint16(at, true) << 16) | dv.getUint16(at + 2, true)) >>> 0,
        );
      }
    } else {
      str[f.key] = decodeString(value, f.vr !== "UI");
    }
  }
  const { commandField, commandDataSetType } = us;
  if (commandField === undefined) {
    throw new DimseError(`command set without ${tagText(COMMAND_FIELD_TAG)} Command Field`);
  }
  const cmd: Command = {
    ...us,
    ...str,
    commandField,
    // Absent (0000,0800): only a few broken peers; C-CANCEL and most responses carry none.
    commandDataSetType: commandDataSetType ?? NO_DATASET,
  };
  if (offendingElement !== undefined) cmd.offendingElement = offendingElement;
  if (other.length > 0) cmd.other = other;
  return cmd;
}

// "CStoreRq" -> "C-STORE-RQ", "NEventReportRsp" -> "N-EVENT-REPORT-RSP"
const NAMES = new Map<number, string>(
  Object.entries(CommandField).map((
    [key, value],
  ) => [value, key.replace(/(?<=.)([A-Z])/g, "-$1").toUpperCase()]),
);

/** "C-STORE-RQ", "N-EVENT-REPORT-RSP", ...; "0x1234" for an unknown command field. */
export function commandName(field: number): string {
  return NAMES.get(field) ?? `0x${field.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** "(0000,0100)" */
export function tagText(tag: number): string {
  const h = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  return `(${h(tag >>> 16)},${h(tag & 0xffff)})`;
}

/**
 * encodeCommand() for the modelled fields alone (every response, nearly every request): sizes
 * first, then each element written in place, FIELDS being in ascending tag order already.
 */
function encodeFields(cmd: Command): Uint8Array {
  let groupLength = 0;
  for (const f of FIELDS) {
    const length = fieldLength(f, cmd);
    if (length >= 0) groupLength += 8 + length;
  }
  const out = new Uint8Array(12 + groupLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, 4, true); // (0000,0000) UL, length 4
  dv.setUint32(8, groupLength, true);
  let off = 12;
  for (const f of FIELDS) {
    const length = fieldLength(f, cmd);
    if (length < 0) continue;
    dv.setUint16(off, 0, true);
    dv.setUint16(off + 2, f.tag & 0xffff, true);
    dv.setUint32(off + 4, length, true);
    off += 8;
    switch (f.vr) {
      case "US":
        dv.setUint16(off, checkRange(f.tag, cmd[f.key]!, 0xffff), true);
        break;
      case "AT":
        cmd.offendingElement!.forEach((t, i) => {
          checkRange(f.tag, t, 0xffffffff);
          dv.setUint16(off + i * 4, t >>> 16, true);
          dv.setUint16(off + i * 4 + 2, t & 0xffff, true);
        });
        break;
      default: {
        const s = cmd[f.key]!;
        const n = f.vr === "LO" ? Math.min(s.length, MAX_ERROR_COMMENT) : s.length;
        for (let i = 0; i < n; i++) {
          const c = s.charCodeAt(i);
          out[off + i] = c >= 0x20 && c < 0x7f ? c : 0x3f; // as asciiBytes()
        }
        if (length > n) out[off + n] = f.vr === "UI" ? 0x00 : 0x20;
      }
    }
    off += length;
  }
  return out;
}

/** The value length of a modelled field in `cmd` (padded even); -1 when it is absent. */
function fieldLength(f: Field, cmd: Command): number {
  switch (f.vr) {
    case "US":
      return cmd[f.key] === undefined ? -1 : 2;
    case "AT":
      return cmd.offendingElement === undefined ? -1 : cmd.offendingElement.length * 4;
    default: {
      const s = cmd[f.key];
      if (s === undefined) return -1;
      const n = f.vr === "LO" ? Math.min(s.length, MAX_ERROR_COMMENT) : s.length;
      return n + (n & 1);
    }
  }
}
