// Value checks of config.toml: each returns the typed value or throws Invalid with the reason.
import { parseAddressBlock } from "../core/security/address_match.ts";
import { SERVICES } from "../core/security/service_permissions.ts";

/** A value refused by a check; its message says what was expected and what was found. */
export class Invalid extends Error {}

export type Check = (value: unknown) => unknown;

export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return "a date";
  if (Array.isArray(v)) return "an array";
  return "a table";
}

export function int(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  const want = max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
  return (v) => {
    if (typeof v !== "bigint" || v < BigInt(min) || v > BigInt(max)) {
      throw new Invalid(`must be ${want}, got ${show(v)}`);
    }
    return Number(v);
  };
}

/** A string, possibly empty (an optional path). */
export const text: Check = (v) => {
  if (typeof v !== "string") throw new Invalid(`must be a string, got ${show(v)}`);
  return v;
};
export function num(min: number): Check {
  return (v) => {
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min) {
      throw new Invalid(`must be a number >= ${min}, got ${show(v)}`);
    }
    return n;
  };
}

export const bool: Check = (v) => {
  if (typeof v !== "boolean") throw new Invalid(`must be true or false, got ${show(v)}`);
  return v;
};

export function str(what = "a non-empty string"): Check {
  return (v) => {
    if (typeof v !== "string" || v.trim() === "") {
      throw new Invalid(`must be ${what}, got ${show(v)}`);
    }
    return v;
  };
}

export function oneOf(...allowed: string[]): Check {
  return (v) => {
    if (typeof v !== "string" || !allowed.includes(v)) {
      throw new Invalid(
        `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${show(v)}`,
      );
    }
    return v;
  };
}

// AE and SH values: the default repertoire (printable ASCII) without backslash (PS3.5 6.2).
// Leading and trailing spaces are not significant: every AE title leaves here trimmed, so
// that nothing downstream needs to trim a configured one again.
export function shortText(what: string): Check {
  return (v) => {
    const s = typeof v === "string" ? v.trim() : "";
    if (s.length < 1 || s.length > 16 || !/^[\x20-\x5b\x5d-\x7e]+$/.test(s)) {
      throw new Invalid(
        `must be ${what} of 1 to 16 printable ASCII characters without backslash, got ${show(v)}`,
      );
    }
    return s;
  };
}

export const aeTitle = shortText("an AE title");

/** Each entry of an array through `check`; a refusal names the entry's index. */
function eachEntry(v: unknown[], check: Check): unknown[] {
  return v.map((entry, i) => {
    try {
      return check(entry);
    } catch (e) {
      throw new Invalid(`entry ${i} ${(e as Error).message}`);
    }
  });
}

export const aeTitles: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of AE titles, got ${show(v)}`);
  return eachEntry(v, aeTitle);
};

export const services: Check = (v) => {
  if (!Array.isArray(v)) {
    throw new Invalid(`must be a list of services (${SERVICES.join(", ")}), got ${show(v)}`);
  }
  return v.map((s, i) => {
    if (typeof s !== "string" || !(SERVICES as readonly string[]).includes(s)) {
      throw new Invalid(`entry ${i} must be one of ${SERVICES.join(", ")}, got ${show(s)}`);
    }
    return s;
  });
};

export const addressBlocks: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0) {
    throw new Invalid(`must be a non-empty list of addresses or CIDR blocks, got ${show(v)}`);
  }
  return v.map((a, i) => {
    if (typeof a !== "string" || parseAddressBlock(a) === null) {
      throw new Invalid(
        `entry ${i} must be an IP address or CIDR block ("10.0.0.21", "10.0.1.0/24"), got ${
          show(a)
        }`,
      );
    }
    return a.trim();
  });
};

// PS3.5 9.1: digits and dots, at most 64 characters.
export const uid: Check = (v) => {
  if (typeof v !== "string" || v.length > 64 || !/^[0-9]+(\.[0-9]+)*$/.test(v)) {
    throw new Invalid(`must be a UID (digits and dots, at most 64 characters), got ${show(v)}`);
  }
  return v;
};

export const sopClasses: Check = (v) => {
  if (v === "all") return v;
  if (!Array.isArray(v) || v.length === 0) {
    throw new Invalid(`must be "all" or a non-empty list of SOP Class UIDs, got ${show(v)}`);
  }
  return eachEntry(v, uid);
};

// A URL path under the web server's root: "/name" with letters, digits, "-", "_", ".", "/".
export const urlPath: Check = (v) => {
  if (typeof v !== "string" || !/^(\/[A-Za-z0-9._~-]+)+$/.test(v) || /(^|\/)\.\.?(\/|$)/.test(v)) {
    throw new Invalid(`must be a path like "/dicom-web", got ${show(v)}`);
  }
  return v;
};

// Web origins ("https://viewer.example:8443") or "*".
export const origins: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of origins, got ${show(v)}`);
  return v.map((o, i) => {
    if (o === "*") return o;
    if (typeof o !== "string" || !/^https?:\/\/[A-Za-z0-9.[\]:-]+$/.test(o)) {
      throw new Invalid(
        `entry ${i} must be "*" or an origin like "https://viewer.example", got ${show(o)}`,
      );
    }
    return o.toLowerCase();
  });
};

// Modality (0008,0060) is CS: upper case, digits, space, underscore; 16 characters at most.
export const modalities: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of modalities, got ${show(v)}`);
  return v.map((m, i) => {
    if (typeof m !== "string" || !/^[A-Z0-9 _]{1,16}$/.test(m.trim())) {
      throw new Invalid(`entry ${i} must be a modality such as "CT", got ${show(m)}`);
    }
    return m.trim();
  });
};

export const uidList: Check = (v) => {
  if (!Array.isArray(v)) throw new Invalid(`must be a list of SOP Class UIDs, got ${show(v)}`);
  return eachEntry(v, uid);
};
