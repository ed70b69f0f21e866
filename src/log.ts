// The Logger port as one line per event: readable text or JSON, written synchronously.

import type { Logger, LogLevel } from "./core/ports.ts";

export type LogFormat = "text" | "json";

export interface AdjustableLogger extends Logger {
  setLevel(level: LogLevel): void;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * Logs events at `level` and above to `sink` (default: stderr, one line per call).
 * `now` is for tests.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  sink: (line: string) => void = writeStderr,
  now: () => Date = () => new Date(),
): AdjustableLogger {
  let threshold = RANK[level];
  return {
    setLevel(l) {
      threshold = RANK[l];
    },
    log(l, message, fields = {}) {
      if (RANK[l] > threshold) return;
      const time = now().toISOString();
      sink(
        format === "json" ? jsonLine(time, l, message, fields) : textLine(time, l, message, fields),
      );
    },
  };
}

// 2026-11-27T10:00:00.123Z INFO  association accepted assoc=3 peer=STORESCU@127.0.0.1:51234
function textLine(time: string, level: LogLevel, message: string, fields: Record<string, unknown>) {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${oneLine(message)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const s = typeof value === "string" ? value : plain(value);
    // Control characters (NUL, ESC...) from a peer never reach the log raw.
    line += ` ${key}=${SAFE_BARE.test(s) ? s : escapeControls(JSON.stringify(s))}`;
  }
  return line;
}

function jsonLine(time: string, level: LogLevel, message: string, fields: Record<string, unknown>) {
  const entry: Record<string, unknown> = { time, level, msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (!(key in entry)) entry[key] = value instanceof Error ? value.message : value;
  }
  try {
    return JSON.stringify(entry, (_k, v) => typeof v === "bigint" ? String(v) : v);
  } catch {
    // A field that cannot be serialized (a cycle): keep the event, describe the fields.
    return JSON.stringify({ time, level, msg: message, fields: plain(fields) });
  }
}

/** A non-string field value as text: errors by message, objects as JSON. */
function plain(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? String(v) : v);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/** A field value written without quotes: no spaces, quotes, '=', backslashes or controls. */
// deno-lint-ignore no-control-regex
const SAFE_BARE = /^[^\s"=\\\x00-\x1f\x7f-\x9f]+$/;

function oneLine(s: string): string {
  return escapeControls(s.replace(/\r?\n/g, "\\n"));
}

/** C0, DEL and C1 control characters as \xNN (JSON.stringify leaves DEL and C1 raw). */
function escapeControls(s: string): string {
  return s.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

const encoder = new TextEncoder();

/** Writes the whole line before returning, so nothing is lost when the process exits. */
function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let off = 0, tries = 0; off < bytes.length && tries < 10_000; tries++) {
    off += Deno.stderr.writeSync(bytes.subarray(off));
  }
}
