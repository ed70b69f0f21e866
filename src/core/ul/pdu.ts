// Upper layer PDU codec (PS3.8 9.3, PS3.7 Annex D.3.3). One whole PDU <-> its structure.

import {
  type AAssociateAc,
  type AAssociateRq,
  AbortReason,
  ItemType,
  type PcResult,
  type PDataTf,
  type Pdu,
  PduError,
  PduType,
  type Pdv,
  type PresentationContextAc,
  type PresentationContextRq,
  type SopClassCommonExtendedNegotiation,
  type UserIdentityRq,
  type UserInformation,
} from "./pdu_types.ts";

/** PDU type (1) + reserved (1) + PDU length (4). */
export const PDU_HEADER_LENGTH = 6;
/** Fixed part of an A-ASSOCIATE-RQ/AC body before its variable items (PS3.8 Table 9-11). */
const ASSOCIATE_FIXED_LENGTH = 68;
/** PDV item length (4) + presentation context id (1) + message control header (1). */
const PDV_HEADER_LENGTH = 6;
const AE_TITLE_LENGTH = 16;

// ---------------------------------------------------------------------------------------
// Encoding

/** Serializes one PDU, header included. Throws PduError when a value does not fit its field. */
export function encodePdu(pdu: Pdu): Uint8Array {
  switch (pdu.type) {
    case PduType.AAssociateRq:
    case PduType.AAssociateAc:
      return encodeAssociate(pdu);
    case PduType.AAssociateRj: // PS3.8 9.3.4
      return encodeFixed(pdu.type, pdu.result, pdu.source, pdu.reason);
    case PduType.PDataTf:
      return encodePData(pdu);
    case PduType.AReleaseRq: // PS3.8 9.3.6
    case PduType.AReleaseRp: // PS3.8 9.3.7
      return encodeFixed(pdu.type, 0, 0, 0);
    case PduType.AAbort: // PS3.8 9.3.8
      return encodeFixed(pdu.type, 0, pdu.source, pdu.reason);
    default:
      throw new PduError(`encodePdu: unknown PDU type ${(pdu as { type: unknown }).type}`);
  }
}

/** A 4-byte body: reserved, then three one-byte fields. */
function encodeFixed(type: number, b8: number, b9: number, b10: number): Uint8Array {
  const w = new Writer(PDU_HEADER_LENGTH + 4);
  w.u8(type);
  w.u8(0);
  w.u32(4);
  w.u8(0);
  w.u8(b8);
  w.u8(b9);
  w.u8(b10);
  return w.finish();
}

// PS3.8 9.3.5
function encodePData(pdu: PDataTf): Uint8Array {
  if (pdu.pdvs.length === 0) throw new PduError("encodePdu: P-DATA-TF needs at least one PDV");
  let total = PDU_HEADER_LENGTH;
  for (const pdv of pdu.pdvs) total += PDV_HEADER_LENGTH + pdv.data.length;
  if (total - PDU_HEADER_LENGTH > 0xffffffff) throw new PduError("encodePdu: P-DATA-TF too long");
  const w = new Writer(total);
  w.u8(PduType.PDataTf);
  w.u8(0);
  w.u32(total - PDU_HEADER_LENGTH);
  for (const pdv of pdu.pdvs) {
    w.u32(pdv.data.length + 2);
    w.u8(contextId(pdv.presentationContextId));
    w.u8((pdv.isCommand ? 1 : 0) | (pdv.isLast ? 2 : 0)); // PS3.8 E.2
    w.bytes(pdv.data);
  }
  return w.finish();
}

// PS3.8 9.3.2, 9.3.3
function encodeAssociate(pdu: AAssociateRq | AAssociateAc): Uint8Array {
  const w = new Writer(512);
  w.u8(pdu.type);
  w.u8(0);
  const lengthAt = w.length;
  w.u32(0);
  w.u16(pdu.protocolVersion);
  w.u16(0);
  w.aeTitle(pdu.calledAeTitle);
  w.aeTitle(pdu.callingAeTitle);
  w.zeros(32);
  w.item(ItemType.ApplicationContext, () => w.text(pdu.applicationContext));
  if (pdu.type === PduType.AAssociateRq) {
    for (const pc of pdu.presentationContexts) encodePcRq(w, pc);
  } else {
    for (const pc of pdu.presentationContexts) encodePcAc(w, pc);
  }
  encodeUserInformation(w, pdu.userInformation);
  w.setU32(lengthAt, w.length - PDU_HEADER_LENGTH);
  return w.finish();
}

// PS3.8 9.3.2.2
function encodePcRq(w: Writer, pc: PresentationContextRq): void {
  w.item(ItemType.PresentationContextRq, () => {
    w.u8(contextId(pc.id));
    w.zeros(3);
    w.item(ItemType.AbstractSyntax, () => w.text(pc.abstractSyntax));
    for (const ts of pc.transferSyntaxes) w.item(ItemType.TransferSyntax, () => w.text(ts));
  });
}

// PS3.8 9.3.3.2
function encodePcAc(w: Writer, pc: PresentationContextAc): void {
  w.item(ItemType.PresentationContextAc, () => {
    w.u8(contextId(pc.id));
    w.u8(0);
    w.u8(pc.result);
    w.u8(0);
    w.item(ItemType.TransferSyntax, () => w.text(pc.transferSyntax));
  });
}

// PS3.8 9.3.2.3, Annex D; PS3.7 D.3.3
function encodeUserInformation(w: Writer, ui: UserInformation): void {
  w.item(ItemType.UserInformation, () => {
    w.item(ItemType.MaximumLength, () => w.u32(ui.maxLength));
    if (ui.implementationClassUid !== "") {
      w.item(ItemType.ImplementationClassUid, () => w.text(ui.implementationClassUid));
    }
    const window = ui.asyncOpsWindow;
    if (window) {
      w.item(ItemType.AsynchronousOperationsWindow, () => {
        w.u16(window.maxInvoked);
        w.u16(window.maxPerformed);
      });
    }
    for (const role of ui.roleSelections) {
      w.item(ItemType.ScpScuRoleSelection, () => {
        w.lengthPrefixedText(role.sopClassUid);
        w.u8(role.scuRole ? 1 : 0);
        w.u8(role.scpRole ? 1 : 0);
      });
    }
    if (ui.implementationVersionName !== undefined) {
      const name = ui.implementationVersionName;
      w.item(ItemType.ImplementationVersionName, () => w.text(name));
    }
    for (const ext of ui.extendedNegotiations) {
      w.item(ItemType.SopClassExtendedNegotiation, () => {
        w.lengthPrefixedText(ext.sopClassUid);
        w.bytes(ext.info);
      });
    }
    for (const common of ui.commonExtendedNegotiations) encodeCommonExtNeg(w, common);
    const identity = ui.userIdentityRq;
    if (identity) {
      w.item(ItemType.UserIdentityRq, () => {
        w.u8(identity.type);
        w.u8(identity.positiveResponseRequested ? 1 : 0);
        w.lengthPrefixedBytes(identity.primaryField);
        w.lengthPrefixedBytes(identity.secondaryField);
      });
    }
    const response = ui.userIdentityAc;
    if (response) w.item(ItemType.UserIdentityAc, () => w.lengthPrefixedBytes(response));
    for (const unknown of ui.unknown) w.item(unknown.type, () => w.bytes(unknown.data));
  });
}

// PS3.7 D.3.3.6 (sub-item version 0)
function encodeCommonExtNeg(w: Writer, common: SopClassCommonExtendedNegotiation): void {
  w.item(ItemType.SopClassCommonExtendedNegotiation, () => {
    w.lengthPrefixedText(common.sopClassUid);
    w.lengthPrefixedText(common.serviceClassUid);
    const at = w.length;
    w.u16(0);
    for (const uid of common.relatedGeneralSopClassUids) w.lengthPrefixedText(uid);
    w.setU16(at, w.length - at - 2);
  });
}

function contextId(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 255 || id % 2 === 0) {
    throw new PduError(`encodePdu: presentation context id ${id} is not odd 1..255`);
  }
  return id;
}

/** Appends big-endian fields to a growing buffer. */
class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity: number) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      grown.set(this.#buf.subarray(0, at));
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = at + n;
    return at;
  }

  // Each writer reserves first and only then takes #buf/#view: #reserve may replace them, and
  // `this.#buf[this.#reserve(1)]` would read the old buffer before growing it.
  u8(v: number): void {
    const value = checked(v, 0xff);
    const at = this.#reserve(1);
    this.#buf[at] = value;
  }

  u16(v: number): void {
    const value = checked(v, 0xffff);
    const at = this.#reserve(2);
    this.#view.setUint16(at, value);
  }

  u32(v: number): void {
    const value = checked(v, 0xffffffff);
    const at = this.#reserve(4);
    this.#view.setUint32(at, value);
  }

  setU16(at: number, v: number): void {
    this.#view.setUint16(at, checked(v, 0xffff));
  }

  setU32(at: number, v: number): void {
    this.#view.setUint32(at, checked(v, 0xffffffff));
  }

  bytes(b: Uint8Array): void {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
  }

  zeros(n: number): void {
    const at = this.#reserve(n);
    this.#buf.fill(0, at, this.#length);
  }

  /** One byte per character (ASCII/Latin-1); UIDs are written without padding. */
  text(s: string): void {
    const at = this.#reserve(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new PduError(`encodePdu: non-Latin-1 character in "${s}"`);
      this.#buf[at + i] = c;
    }
  }

  /** 16 bytes, space padded (PS3.8 9.3.2). */
  aeTitle(s: string): void {
    if (s.length > AE_TITLE_LENGTH) {
      throw new PduError(`encodePdu: AE title "${s}" is longer than 16 characters`);
    }
    this.text(s.padEnd(AE_TITLE_LENGTH, " "));
  }

  lengthPrefixedText(s: string): void {
    this.u16(s.length);
    this.text(s);
  }

  lengthPrefixedBytes(b: Uint8Array): void {
    this.u16(b.length);
    this.bytes(b);
  }

  /** Item type, reserved byte, 2-byte item length, then whatever `body` writes. */
  item(type: number, body: () => void): void {
    this.u8(type);
    this.u8(0);
    const at = this.#reserve(2);
    body();
    const n = this.#length - at - 2;
    if (n > 0xffff) {
      throw new PduError(`encodePdu: item 0x${type.toString(16)} exceeds 65535 bytes`);
    }
    this.#view.setUint16(at, n);
  }

  finish(): Uint8Array {
    return this.#length === this.#buf.length ? this.#buf : this.#buf.slice(0, this.#length);
  }
}

function checked(v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new PduError(`encodePdu: value ${v} does not fit a field of max ${max}`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------
// Decoding

/**
 * Parses ONE whole PDU, 6-byte header included. Throws only PduError. PDV data are views
 * into `bytes`; every other byte field is copied.
 */
export function decodePdu(bytes: Uint8Array): Pdu {
  try {
    return decodeChecked(bytes);
  } catch (e) {
    if (e instanceof PduError) throw e;
    throw new PduError(`malformed PDU: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeChecked(bytes: Uint8Array): Pdu {
  if (bytes.length < PDU_HEADER_LENGTH) {
    throw new PduError(`PDU of ${bytes.length} bytes is shorter than its header`);
  }
  const r = new Reader(bytes, 0, bytes.length, "PDU");
  const type = r.u8();
  r.skip(1);
  const length = r.u32();
  if (type < PduType.AAssociateRq || type > PduType.AAbort) {
    throw new PduError(`unrecognized PDU type 0x${hex(type)}`, AbortReason.UnrecognizedPdu);
  }
  if (length !== bytes.length - PDU_HEADER_LENGTH) {
    throw new PduError(`PDU length ${length} does not match its ${bytes.length - 6} body bytes`);
  }
  switch (type) {
    case PduType.AAssociateRq:
    case PduType.AAssociateAc:
      return decodeAssociate(type, r);
    case PduType.PDataTf:
      return decodePData(bytes);
  }
  if (length !== 4) throw new PduError(`PDU type 0x${hex(type)} must have length 4, not ${length}`);
  if (type === PduType.AAssociateRj) { // PS3.8 9.3.4
    r.skip(1);
    return { type: PduType.AAssociateRj, result: r.u8(), source: r.u8(), reason: r.u8() };
  }
  if (type === PduType.AAbort) { // PS3.8 9.3.8
    r.skip(2);
    return { type: PduType.AAbort, source: r.u8(), reason: r.u8() };
  }
  return { type: type === PduType.AReleaseRq ? PduType.AReleaseRq : PduType.AReleaseRp };
}

// PS3.8 9.3.5
function decodePData(bytes: Uint8Array): PDataTf {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pdvs: Pdv[] = [];
  let at = PDU_HEADER_LENGTH;
  while (at < bytes.length) {
    if (bytes.length - at < 4) throw new PduError("PDV item header runs past its PDU");
    const length = view.getUint32(at);
    if (length < 2) throw new PduError(`PDV item length ${length} is less than 2`);
    if (length > bytes.length - at - 4) {
      throw new PduError(`PDV item length ${length} runs past its PDU`);
    }
    const id = bytes[at + 4];
    if (id % 2 === 0) throw new PduError(`PDV presentation context id ${id} is not odd`);
    const control = bytes[at + 5];
    pdvs.push({
      presentationContextId: id,
      isCommand: (control & 1) !== 0,
      isLast: (control & 2) !== 0,
      data: bytes.subarray(at + PDV_HEADER_LENGTH, at + 4 + length),
    });
    at += 4 + length;
  }
  if (pdvs.length === 0) throw new PduError("P-DATA-TF without PDV items");
  return { type: PduType.PDataTf, pdvs };
}

// PS3.8 9.3.2 (RQ), 9.3.3 (AC)
function decodeAssociate(
  type: typeof PduType.AAssociateRq | typeof PduType.AAssociateAc,
  r: Reader,
): AAssociateRq | AAssociateAc {
  r.need(ASSOCIATE_FIXED_LENGTH);
  const protocolVersion = r.u16();
  r.skip(2);
  const calledAeTitle = aeTitle(r.take(AE_TITLE_LENGTH));
  const callingAeTitle = aeTitle(r.take(AE_TITLE_LENGTH));
  r.skip(32);
  let applicationContext: string | undefined;
  let userInformation: UserInformation | undefined;
  const rqContexts: PresentationContextRq[] = [];
  const acContexts: PresentationContextAc[] = [];
  for (const item of r.items("A-ASSOCIATE variable item")) {
    if (item.type === ItemType.ApplicationContext) {
      if (applicationContext !== undefined) throw new PduError("duplicate application context");
      applicationContext = uid(item.rest());
    } else if (item.type === ItemType.UserInformation) {
      if (userInformation) throw new PduError("duplicate user information item");
      userInformation = decodeUserInformation(item);
    } else if (item.type === ItemType.PresentationContextRq && type === PduType.AAssociateRq) {
      rqContexts.push(decodePcRq(item));
    } else if (item.type === ItemType.PresentationContextAc && type === PduType.AAssociateAc) {
      acContexts.push(decodePcAc(item));
    } // other items: not ours, skipped
  }
  if (applicationContext === undefined) throw new PduError("missing application context item");
  if (!userInformation) throw new PduError("missing user information item");
  const common = { protocolVersion, calledAeTitle, callingAeTitle, applicationContext };
  return type === PduType.AAssociateRq
    ? { type, ...common, presentationContexts: rqContexts, userInformation }
    : { type, ...common, presentationContexts: acContexts, userInformation };
}

// PS3.8 9.3.2.2
function decodePcRq(r: Reader): PresentationContextRq {
  const id = decodeContextId(r);
  r.skip(3);
  let abstractSyntax: string | undefined;
  const transferSyntaxes: string[] = [];
  for (const sub of r.items("presentation context sub-item")) {
    if (sub.type === ItemType.AbstractSyntax) {
      if (abstractSyntax !== undefined) {
        throw new PduError(`presentation context ${id} has two abstract syntaxes`);
      }
      abstractSyntax = uid(sub.rest());
    } else if (sub.type === ItemType.TransferSyntax) {
      transferSyntaxes.push(uid(sub.rest()));
    }
  }
  if (abstractSyntax === undefined) {
    throw new PduError(`presentation context ${id} has no abstract syntax`);
  }
  if (transferSyntaxes.length === 0) {
    throw new PduError(`presentation context ${id} has no transfer syntax`);
  }
  return { id, abstractSyntax, transferSyntaxes };
}

// PS3.8 9.3.3.2
function decodePcAc(r: Reader): PresentationContextAc {
  const id = decodeContextId(r);
  r.skip(1);
  const result = r.u8();
  r.skip(1);
  if (result > 4) throw new PduError(`presentation context ${id} has result ${result}`);
  let transferSyntax: string | undefined;
  for (const sub of r.items("presentation context sub-item")) {
    if (sub.type === ItemType.TransferSyntax && transferSyntax === undefined) {
      transferSyntax = uid(sub.rest());
    }
  }
  // Not significant unless accepted (PS3.8 Table 9-18); some peers omit it then.
  return { id, result: result as PcResult, transferSyntax: transferSyntax ?? "" };
}

function decodeContextId(r: Reader): number {
  const id = r.u8();
  if (id % 2 === 0) throw new PduError(`presentation context id ${id} is not odd 1..255`);
  return id;
}

// PS3.8 9.3.2.3, Annex D; PS3.7 D.3.3. Repeated single-valued sub-items: the first wins.
function decodeUserInformation(r: Reader): UserInformation {
  let maxLength: number | undefined;
  let implementationClassUid: string | undefined;
  const ui: UserInformation = {
    maxLength: 0,
    implementationClassUid: "",
    roleSelections: [],
    extendedNegotiations: [],
    commonExtendedNegotiations: [],
    unknown: [],
  };
  for (const sub of r.items("user information sub-item")) {
    switch (sub.type) {
      case ItemType.MaximumLength:
        maxLength ??= sub.u32();
        break;
      case ItemType.ImplementationClassUid:
        implementationClassUid ??= uid(sub.rest());
        break;
      case ItemType.AsynchronousOperationsWindow:
        ui.asyncOpsWindow ??= { maxInvoked: sub.u16(), maxPerformed: sub.u16() };
        break;
      case ItemType.ScpScuRoleSelection:
        ui.roleSelections.push({
          sopClassUid: uid(sub.lengthPrefixed()),
          scuRole: sub.u8() !== 0,
          scpRole: sub.u8() !== 0,
        });
        break;
      case ItemType.ImplementationVersionName:
        ui.implementationVersionName ??= uid(sub.rest());
        break;
      case ItemType.SopClassExtendedNegotiation:
        ui.extendedNegotiations.push({
          sopClassUid: uid(sub.lengthPrefixed()),
          info: sub.rest().slice(),
        });
        break;
      case ItemType.SopClassCommonExtendedNegotiation:
        ui.commonExtendedNegotiations.push(decodeCommonExtNeg(sub));
        break;
      case ItemType.UserIdentityRq:
        ui.userIdentityRq ??= decodeUserIdentityRq(sub);
        break;
      case ItemType.UserIdentityAc:
        ui.userIdentityAc ??= sub.lengthPrefixed().slice();
        break;
      default:
        ui.unknown.push({ type: sub.type, data: sub.rest().slice() });
    }
  }
  if (maxLength === undefined) throw new PduError("user information has no maximum length item");
  ui.maxLength = maxLength;
  ui.implementationClassUid = implementationClassUid ?? "";
  return ui;
}

// PS3.7 D.3.3.6
function decodeCommonExtNeg(r: Reader): SopClassCommonExtendedNegotiation {
  const sopClassUid = uid(r.lengthPrefixed());
  const serviceClassUid = uid(r.lengthPrefixed());
  const related = r.lengthPrefixedReader("related general SOP class identification");
  const relatedGeneralSopClassUids: string[] = [];
  while (related.remaining > 0) relatedGeneralSopClassUids.push(uid(related.lengthPrefixed()));
  return { sopClassUid, serviceClassUid, relatedGeneralSopClassUids };
}

// PS3.7 D.3.3.7.1
function decodeUserIdentityRq(r: Reader): UserIdentityRq {
  return {
    type: r.u8(),
    positiveResponseRequested: r.u8() !== 0,
    primaryField: r.lengthPrefixed().slice(),
    secondaryField: r.lengthPrefixed().slice(),
  };
}

/** A bounded big-endian cursor; anything past `end` is a PduError naming `what`. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at: number;
  #end: number;
  readonly #what: string;
  /** Item type when this reader spans one variable item's data. */
  readonly type: number;

  constructor(bytes: Uint8Array, at: number, end: number, what: string, type = 0) {
    this.#bytes = bytes;
    this.type = type;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#at = at;
    this.#end = end;
    this.#what = what;
  }

  get remaining(): number {
    return this.#end - this.#at;
  }

  need(n: number): void {
    if (n > this.#end - this.#at) throw new PduError(`${this.#what} is truncated`);
  }

  skip(n: number): void {
    this.need(n);
    this.#at += n;
  }

  u8(): number {
    this.need(1);
    return this.#bytes[this.#at++];
  }

  u16(): number {
    this.need(2);
    const v = this.#view.getUint16(this.#at);
    this.#at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.#view.getUint32(this.#at);
    this.#at += 4;
    return v;
  }

  /** A view of the next n bytes. */
  take(n: number): Uint8Array {
    this.need(n);
    const at = this.#at;
    this.#at += n;
    return this.#bytes.subarray(at, at + n);
  }

  rest(): Uint8Array {
    return this.take(this.#end - this.#at);
  }

  /** A field preceded by its 2-byte length. */
  lengthPrefixed(): Uint8Array {
    return this.take(this.u16());
  }

  /** A reader over a field preceded by its 2-byte length. */
  lengthPrefixedReader(what: string): Reader {
    const n = this.u16();
    this.need(n);
    this.#at += n;
    return new Reader(this.#bytes, this.#at - n, this.#at, what);
  }

  /** Walks the variable items (type, reserved, 2-byte length, data) up to the end. */
  *items(what: string): Generator<Reader> {
    while (this.#at < this.#end) {
      this.need(4);
      const type = this.#bytes[this.#at];
      const length = this.#view.getUint16(this.#at + 2);
      this.#at += 4;
      if (length > this.#end - this.#at) {
        throw new PduError(`${what} 0x${hex(type)} of length ${length} runs past its parent`);
      }
      const name = `${what} 0x${hex(type)}`;
      const item = new Reader(this.#bytes, this.#at, this.#at + length, name, type);
      this.#at += length;
      yield item;
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** UIDs and names: peers pad with NUL or space. */
function uid(bytes: Uint8Array): string {
  return latin1(bytes).replace(/[\0 ]+$/, "");
}

/** Leading and trailing spaces are not significant (PS3.8 9.3.2); some peers pad with NUL. */
function aeTitle(bytes: Uint8Array): string {
  return latin1(bytes).replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
