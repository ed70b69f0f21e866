// Splits outgoing DIMSE messages into P-DATA-TF PDUs that respect the peer's Maximum Length
// Received (PS3.8 9.3.5, D.1; PS3.7 Annex D.1). One PDV per PDU, one Uint8Array per PDU,
// dataset bytes copied once into it.

import { DimseError } from "./command.ts";

/** What we send when the peer sets no limit (0), and the most we ever put in one PDU. */
export const MAX_PDU_SENT = 262144;

/** PDU header (type, reserved, 4-byte length) + PDV item header (4-byte length, pc id, control). */
const HEADER = 12;
const CONTROL_COMMAND = 0x01; // PS3.8 E.2 message control header bit 0
const CONTROL_LAST = 0x02; // bit 1
const EMPTY = new Uint8Array(0);

/**
 * Data bytes per PDU for a peer's Maximum Length Received: the PDU's variable field holds
 * one PDV item (6 header bytes + data); kept even. Throws DimseError if the maximum leaves
 * no room for data.
 */
export function fragmentCapacity(maxPduLength: number): number {
  const max = maxPduLength === 0 ? MAX_PDU_SENT : Math.min(maxPduLength, MAX_PDU_SENT);
  const cap = max - 6;
  if (!Number.isInteger(cap) || cap < 2) {
    throw new DimseError(`peer's maximum PDU length ${maxPduLength} is too small`);
  }
  return cap - (cap % 2);
}

/** Writes the P-DATA-TF and PDV headers in front of `dataLength` bytes already at byte 12. */
function writeHeaders(pdu: Uint8Array, pcId: number, dataLength: number, control: number): void {
  const dv = new DataView(pdu.buffer, pdu.byteOffset, HEADER);
  dv.setUint8(0, 0x04); // P-DATA-TF
  dv.setUint8(1, 0);
  dv.setUint32(2, 6 + dataLength); // PDU length: excludes the 6-byte PDU header
  dv.setUint32(6, 2 + dataLength); // PDV item length: includes pc id + control
  dv.setUint8(10, pcId);
  dv.setUint8(11, control);
}

/** A command set as whole P-DATA-TF PDUs; the last PDV is flagged last. */
export function packCommand(
  pcId: number,
  commandBytes: Uint8Array,
  maxPduLength: number,
): Uint8Array[] {
  const cap = fragmentCapacity(maxPduLength);
  const out: Uint8Array[] = [];
  let off = 0;
  do {
    const n = Math.min(cap, commandBytes.length - off);
    const pdu = new Uint8Array(HEADER + n);
    pdu.set(commandBytes.subarray(off, off + n), HEADER);
    off += n;
    const last = off >= commandBytes.length;
    writeHeaders(pdu, pcId, n, CONTROL_COMMAND | (last ? CONTROL_LAST : 0));
    out.push(pdu);
  } while (off < commandBytes.length);
  return out;
}

/**
 * Packs a dataset into P-DATA-TF PDUs as its bytes arrive. A full PDU is held back until
 * more data or end() shows whether it is the last. The PDUs a push completes come back in
 * one buffer, back to back, ready for a single write; each data byte is copied once (the
 * tail of a push waits in a buffer of one PDU). Reusable after end().
 */
export class DataPacker {
  readonly #pcId: number;
  readonly #cap: number;
  /** Data waiting for its PDU: at most one PDU's worth. */
  #pending: Uint8Array | undefined;
  #fill = 0;

  constructor(pcId: number, maxPduLength: number) {
    this.#pcId = pcId;
    this.#cap = fragmentCapacity(maxPduLength);
  }

  /**
   * Adds dataset bytes (copied); returns the PDUs now known to be full and not last, in a
   * buffer from `allocate` when given (the caller may then hand the same buffer out again
   * once those PDUs are written).
   */
  push(chunk: Uint8Array, allocate?: (size: number) => Uint8Array): Uint8Array {
    return this.#pack(chunk, undefined, allocate);
  }

  /**
   * A whole dataset in one buffer, behind `prefix` (the command's PDUs): one allocation and
   * one copy for a message sent in a single write.
   */
  packWhole(
    prefix: Uint8Array[],
    dataset: Uint8Array,
    allocate?: (size: number) => Uint8Array,
  ): Uint8Array {
    return this.#pack(dataset, prefix, allocate);
  }

  #pack(
    chunk: Uint8Array,
    whole: Uint8Array[] | undefined,
    allocate?: (size: number) => Uint8Array,
  ): Uint8Array {
    const cap = this.#cap;
    const total = this.#fill + chunk.length;
    // Whole PDUs that more data follows: at least one byte stays behind for the last one
    // (unless the whole dataset is packed at once: then every byte goes out now).
    const full = total > 0 ? Math.floor((total - 1) / cap) : 0;
    const lastData = whole ? total - full * cap : 0;
    let prefixLength = 0;
    for (const p of whole ?? []) prefixLength += p.length;
    const size = prefixLength + full * (HEADER + cap) + (whole ? HEADER + lastData : 0);
    if (size === 0) {
      this.#keep(chunk, 0);
      return EMPTY;
    }
    // Every byte of `out` is written below, so a reused buffer needs no clearing.
    const out = allocate ? allocate(size).subarray(0, size) : new Uint8Array(size);
    let at = 0;
    for (const p of whole ?? []) (out.set(p, at), at += p.length);
    let off = 0;
    for (let i = 0; i <= full; i++) {
      const last = i === full;
      if (last && !whole) break;
      const n = last ? lastData : cap;
      const base = at;
      at += HEADER;
      if (i === 0 && this.#fill > 0) {
        out.set(this.#pending!.subarray(0, this.#fill), at);
        at += this.#fill;
      }
      const take = base + HEADER + n - at;
      out.set(chunk.subarray(off, off + take), at);
      off += take;
      at += take;
      writeHeaders(out.subarray(base), this.#pcId, n, last ? CONTROL_LAST : 0);
    }
    if (full > 0 || whole) this.#fill = 0;
    if (!whole) this.#keep(chunk, off);
    return out;
  }

  /** Keeps the unsent tail of a push for the next PDU. */
  #keep(chunk: Uint8Array, from: number): void {
    if (from >= chunk.length) return;
    this.#pending ??= new Uint8Array(this.#cap);
    this.#pending.set(chunk.subarray(from), this.#fill);
    this.#fill += chunk.length - from;
  }

  /** The pending bytes as the final PDU, flagged last (zero data if nothing was pushed). */
  end(): Uint8Array {
    const pdu = new Uint8Array(HEADER + this.#fill);
    if (this.#fill > 0) pdu.set(this.#pending!.subarray(0, this.#fill), HEADER);
    writeHeaders(pdu, this.#pcId, this.#fill, CONTROL_LAST);
    this.#fill = 0;
    return pdu;
  }
}

/** Room kept in front of a framed dataset for its command's PDUs. */
const COMMAND_ROOM = 1024;
const ROOM = new Uint8Array(COMMAND_ROOM);

/**
 * A dataset already split into P-DATA-TF PDUs for one presentation context and peer maximum,
 * with room in front for its command. Framed while the peer is still busy with the previous
 * message, it then goes out behind its command in one write, with no copy of the data.
 */
export class FramedDataset {
  readonly pcId: number;
  readonly maxPduLength: number;
  readonly #bytes: Uint8Array;

  /** `allocate` may hand out a reused buffer of at least the size asked for. */
  constructor(
    pcId: number,
    maxPduLength: number,
    dataset: Uint8Array,
    allocate?: (size: number) => Uint8Array,
  ) {
    this.pcId = pcId;
    this.maxPduLength = maxPduLength;
    const packer = new DataPacker(pcId, maxPduLength);
    this.#bytes = packer.packWhole([ROOM], dataset, allocate);
  }

  /** The buffer it was framed in (to reuse once the message is sent). */
  get buffer(): Uint8Array {
    return this.#bytes;
  }

  /** The data PDUs alone. */
  get pdus(): Uint8Array {
    return this.#bytes.subarray(COMMAND_ROOM);
  }

  /** The whole message: the command's PDUs put in the room in front; null if too long. */
  withCommand(commandPdus: Uint8Array[]): Uint8Array | null {
    let at = COMMAND_ROOM;
    for (const p of commandPdus) at -= p.length;
    if (at < 0) return null;
    const start = at;
    for (const p of commandPdus) (this.#bytes.set(p, at), at += p.length);
    return this.#bytes.subarray(start);
  }
}
