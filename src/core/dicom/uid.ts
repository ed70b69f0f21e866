// UID rules (PS3.5 9.1): components of digits separated by ".", at most 64 characters.

const MAX_UID_LENGTH = 64;
const PLAIN = /^[0-9]+(\.[0-9]+)*$/;
const CONFORMANT = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** Strips trailing NUL and spaces and leading spaces, as peers pad UIDs both ways (PS3.5 6.2). */
export function trimUid(raw: string): string {
  return raw.replace(/^ +/, "").replace(/[\0 ]+$/, "");
}

/**
 * Digits and dots only, 1..64 characters, no empty component. Leading zeros in a component are
 * tolerated: real modalities send them.
 */
export function isPlainUid(uid: string): boolean {
  return uid.length >= 1 && uid.length <= MAX_UID_LENGTH && PLAIN.test(uid);
}

/** Strict PS3.5 9.1: as isPlainUid, and no multi-digit component starts with "0". */
export function isConformantUid(uid: string): boolean {
  return uid.length >= 1 && uid.length <= MAX_UID_LENGTH && CONFORMANT.test(uid);
}

/**
 * A safe file or folder name for a UID: the UID itself when plain; otherwise "h" + hex SHA-256
 * of its UTF-8 bytes. Never contains "/", "\\" or "..".
 */
export async function uidPathComponent(uid: string): Promise<string> {
  if (isPlainUid(uid)) return uid;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(uid));
  let hex = "h";
  for (const b of new Uint8Array(digest)) hex += b.toString(16).padStart(2, "0");
  return hex;
}
