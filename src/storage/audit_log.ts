// The audit trail file (`[audit] path`): one JSON line per AuditRecord, appended in order.
// Each line reaches the operating system within milliseconds (a killed process loses none)
// and is fdatasync'ed within a second (a power cut loses at most the last second). Past
// max_mb the file is synced and renamed to path.<UTC time> and a new one starts; rotated files
// are never deleted here (how long an audit trail is kept is the site's policy).
import type { AuditRecord, AuditTrail } from "../core/audit.ts";
import type { Logger } from "../core/ports.ts";

/** How long a written line may stay unsynced. */
const SYNC_MS = 1000;
/** Records kept in memory for the status page. */
const RECENT = 50;

export interface AuditEntry extends AuditRecord {
  /** ISO 8601 UTC, when the event was recorded. */
  EventDateTime: string;
}

export interface AuditLogOptions {
  path: string;
  /** Rotate past this many bytes. */
  maxBytes: number;
  logger: Logger;
}

export class AuditLog implements AuditTrail {
  readonly path: string;
  #file: Deno.FsFile;
  #size: number;
  #maxBytes: number;
  #log: Logger;
  #pending: string[] = [];
  #writing: Promise<void> | null = null;
  #unsynced = false;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #syncing: Promise<void> | null = null;
  #recent: AuditEntry[] = [];
  #closed = false;
  #failed = false;
  #encoder = new TextEncoder();

  private constructor(o: AuditLogOptions, file: Deno.FsFile, size: number) {
    this.path = o.path;
    this.#file = file;
    this.#size = size;
    this.#maxBytes = o.maxBytes;
    this.#log = o.logger;
  }

  /** Opens (or creates, mode 0600) the file for appending; ends a torn last line. */
  static async open(o: AuditLogOptions): Promise<AuditLog> {
    const file = await Deno.open(o.path, { append: true, create: true, mode: 0o600 });
    let size = (await file.stat()).size;
    if (size > 0) {
      // A line cut by a crash is closed so that the next one starts on its own line.
      const last = new Uint8Array(1);
      const reader = await Deno.open(o.path, { read: true });
      try {
        await reader.seek(size - 1, Deno.SeekMode.Start);
        await reader.read(last);
      } finally {
        reader.close();
      }
      if (last[0] !== 0x0a) {
        await file.write(new Uint8Array([0x0a]));
        size++;
      }
    }
    return new AuditLog(o, file, size);
  }

  record(event: AuditRecord): void {
    if (this.#closed) return;
    const entry: AuditEntry = { EventDateTime: new Date().toISOString(), ...event };
    let line: string;
    try {
      line = JSON.stringify(entry, (_k, v) => (v === undefined ? undefined : v)) + "\n";
    } catch (e) {
      this.#log.log("error", `audit record not written: ${(e as Error).message}`);
      return;
    }
    this.#recent.push(entry);
    if (this.#recent.length > RECENT) this.#recent.shift();
    this.#pending.push(line);
    this.#writing ??= this.#drain();
  }

  /** The newest records first (for the status page). */
  recent(n = RECENT): AuditEntry[] {
    return this.#recent.slice(-n).reverse();
  }

  /** Writes everything recorded so far and syncs it. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    await this.#sync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    this.#file.close();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const lines = this.#pending.splice(0);
        const bytes = this.#encoder.encode(lines.join(""));
        if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) await this.#rotate();
        let at = 0;
        while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
        this.#size += bytes.length;
        this.#unsynced = true;
        this.#failed = false;
        this.#armSync();
      }
    } catch (e) {
      if (!this.#failed) {
        this.#log.log("error", `audit trail write failed: ${(e as Error).message}`, {
          path: this.path,
        });
      }
      this.#failed = true;
    } finally {
      this.#writing = null;
      // Recorded while the last write failed: try again with the next record.
    }
  }

  #armSync(): void {
    if (this.#syncTimer !== undefined) return;
    const t = setTimeout(() => {
      this.#syncTimer = undefined;
      void this.#sync();
    }, SYNC_MS);
    Deno.unrefTimer(t);
    this.#syncTimer = t;
  }

  async #sync(): Promise<void> {
    while (this.#syncing) await this.#syncing;
    if (!this.#unsynced || this.#closed) return;
    this.#unsynced = false;
    this.#syncing = this.#file.syncData().catch((e) => {
      this.#unsynced = true;
      this.#log.log("error", `audit trail sync failed: ${(e as Error).message}`);
    }).finally(() => (this.#syncing = null));
    await this.#syncing;
  }

  /** Syncs and closes the full file, renames it to path.<time> and starts a new one. */
  async #rotate(): Promise<void> {
    while (this.#syncing) await this.#syncing;
    await this.#file.syncData();
    this.#file.close();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    let target = `${this.path}.${stamp}`;
    for (let n = 1; await exists(target); n++) target = `${this.path}.${stamp}-${n}`;
    await Deno.rename(this.path, target);
    this.#file = await Deno.open(this.path, { append: true, create: true, mode: 0o600 });
    this.#size = 0;
    // The rename and the new file are durable before lines go into it.
    const dir = this.path.includes("/") ? this.path.slice(0, this.path.lastIndexOf("/")) : ".";
    const d = await Deno.open(dir || "/", { read: true }).catch(() => null);
    if (d) {
      await d.sync().catch(() => {});
      d.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
