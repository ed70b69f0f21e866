// Upper layer PDU encoding (PS3.8 9.3, PS3.7 Annex D.3.3): a PDU's structure -> its bytes.
import {
  type AAssociateAc,
  type AAssociateRq,
  AE_TITLE_LENGTH,
  ItemType,
  type PDataTf,
  type Pdu,
  PDU_HEADER_LENGTH,
  PduError,
  PduType,
  PDV_HEADER_LENGTH,
  type PresentationContextAc,
  type PresentationContextRq,
  type SopClassCommonExtendedNegotiation,
  type UserInformation,
} from "./pdu_types.ts";

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
