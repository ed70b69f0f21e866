// Addresses and CIDR blocks ([[known_ae]] hosts): "10.0.0.21", "10.0.1.0/24", "::1",
// "fd00::/8". IPv4-mapped IPv6 peers ("::ffff:10.0.0.21") match their IPv4 form.

/** An address or block parsed once: the bytes and how many leading bits must be equal. */
export interface AddressBlock {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses "a.b.c.d" into 4 bytes; null when not a dotted IPv4 address. */
function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return null;
    out[i] = Number(parts[i]);
  }
  return out;
}

/** Parses an IPv6 address (with "::" and a trailing dotted IPv4) into 16 bytes. */
function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const items = s.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4(item);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its 4 IPv4 bytes; others unchanged. */
function unmapped(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  return bytes.slice(12);
}

/** Parses an address or CIDR block; null when it is neither (the reason is the caller's). */
export function parseAddressBlock(text: string): AddressBlock | null {
  const [addr, bits, extra] = text.trim().split("/");
  if (extra !== undefined) return null;
  const raw = parseIpv4(addr) ?? parseIpv6(addr.replace(/^\[|\]$/g, ""));
  if (!raw) return null;
  const bytes = unmapped(raw);
  const max = bytes.length * 8;
  // A mapped IPv6 block's prefix counts the 96 leading bits it drops.
  const drop = raw.length === 16 && bytes.length === 4 ? 96 : 0;
  if (bits === undefined) return { bytes, prefix: max };
  if (!/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits) - drop;
  if (prefix < 0 || prefix > max) return null;
  return { bytes, prefix };
}

/** True when `address` (a peer's IP, without port) lies in `block`. */
export function addressInBlock(address: string, block: AddressBlock): boolean {
  const peer = parseAddressBlock(address);
  if (!peer || peer.bytes.length !== block.bytes.length) return false;
  let bits = block.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((peer.bytes[i] & mask) !== (block.bytes[i] & mask)) return false;
  }
  return true;
}

/** The address part of a Connection's `remote` ("host:port", "[v6]:port"; IPv6 unbracketed too). */
export function hostOf(remote: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(remote);
  if (bracket) return bracket[1];
  // Adapters always append ":port": the address is everything before the last colon.
  const at = remote.lastIndexOf(":");
  return at > 0 ? remote.slice(0, at) : remote;
}
