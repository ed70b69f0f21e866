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
 * more data or end() shows whether it is the last. Reusable after end().
 */
export class DataPacker {
  readonly #pcId: number;
  readonly #cap: number;
  /** The PDU being filled; its data starts at byte 12. */
  #pdu: Uint8Array | undefined;
  #fill = 0;
  /** Several pushes went into one PDU: allocate full-size PDUs from now on. */
  #streaming = false;

  constructor(pcId: number, maxPduLength: number) {
    this.#pcId = pcId;
    this.#cap = fragmentCapacity(maxPduLength);
  }

  /** Adds dataset bytes (copied); returns the PDUs now known to be full and not last. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) { // each pass copies at least one byte
      if (this.#fill === this.#cap) out.push(this.#finish(0));
      const n = Math.min(this.#cap - this.#fill, chunk.length - off);
      this.#reserve(n);
      this.#pdu!.set(chunk.subarray(off, off + n), HEADER + this.#fill);
      this.#fill += n;
      off += n;
    }
    return out;
  }

  /** The pending bytes as the final PDU, flagged last (zero data if nothing was pushed). */
  end(): Uint8Array[] {
    this.#pdu ??= new Uint8Array(HEADER);
    const pdu = this.#finish(CONTROL_LAST);
    this.#streaming = false;
    return [pdu];
  }

  /** Makes room for n more data bytes in the current PDU. */
  #reserve(n: number): void {
    const need = HEADER + this.#fill + n;
    if (this.#pdu === undefined) {
      // One big push: size the PDU exactly; streamed small chunks: allocate it whole.
      this.#pdu = new Uint8Array(HEADER + (this.#streaming ? this.#cap : n));
    } else if (this.#pdu.length < need) {
      const bigger = new Uint8Array(HEADER + this.#cap);
      bigger.set(this.#pdu.subarray(HEADER, HEADER + this.#fill), HEADER);
      this.#pdu = bigger;
      this.#streaming = true;
    }
  }

  #finish(control: number): Uint8Array {
    const pdu = this.#pdu!;
    writeHeaders(pdu, this.#pcId, this.#fill, control);
    const whole = pdu.length === HEADER + this.#fill ? pdu : pdu.subarray(0, HEADER + this.#fill);
    this.#pdu = undefined;
    this.#fill = 0;
    return whole;
  }
}

/** Concatenates several PDUs into one buffer for a single write. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}
