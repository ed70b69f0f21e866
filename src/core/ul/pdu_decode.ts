// Upper layer PDU decoding (PS3.8 9.3, PS3.7 Annex D.3.3): one whole PDU's bytes -> its
// structure, every malformation a PduError naming the A-ABORT reason.
import {
  type AAssociateAc,
  type AAssociateRq,
  AbortReason,
  AE_TITLE_LENGTH,
  ASSOCIATE_FIXED_LENGTH,
  ItemType,
  type PcResult,
  type PDataTf,
  type Pdu,
  PDU_HEADER_LENGTH,
  PduError,
  PduType,
  type Pdv,
  PDV_HEADER_LENGTH,
  type PresentationContextAc,
  type PresentationContextRq,
  type SopClassCommonExtendedNegotiation,
  type UserIdentityRq,
  type UserInformation,
} from "./pdu_types.ts";

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
