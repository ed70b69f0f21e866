// GET /metrics in the Prometheus text exposition format (version 0.0.4): associations,
// DIMSE operations by service and status, bytes, store durations, index size, disk space.
import { REJECT_LABELS } from "../core/ul/negotiation.ts";
import { type ServerStats, STORE_DURATION_BUCKETS } from "../app/stats.ts";
import type { IndexTotals } from "../storage/catalog.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsSources {
  stats: ServerStats;
  totals: IndexTotals;
  /** Size of index.sqlite and its WAL, bytes; null when unknown. */
  indexFileBytes: number | null;
  freeBytes: number | null;
  minFreeBytes: number;
  pendingObjects: number;
  /** The process's memory (Deno.memoryUsage()); absent: not shown. */
  memory?: { rss: number; heapTotal: number; heapUsed: number; external: number };
}

const escapeLabel = (v: string) =>
  v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (v === Infinity) return "+Inf";
  return Number.isFinite(v) ? String(v) : "NaN";
}

class Exposition {
  lines: string[] = [];
  family(name: string, type: "counter" | "gauge" | "histogram", help: string) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, value: number, l: Record<string, string> = {}) {
    this.lines.push(`${name}${labels(l)} ${num(value)}`);
  }
}

export function renderMetrics(s: MetricsSources): string {
  const e = new Exposition();
  const st = s.stats;
  e.family("minipacs_start_time_seconds", "gauge", "Start time of the server, seconds since 1970.");
  e.sample("minipacs_start_time_seconds", Math.floor(st.startedAt / 1000));

  e.family("minipacs_associations_open", "gauge", "DICOM associations open now.");
  e.sample("minipacs_associations_open", st.openCount);
  const totals = st.totals();
  e.family("minipacs_associations_accepted_total", "counter", "Associations accepted.");
  e.sample("minipacs_associations_accepted_total", totals.accepted);
  e.family("minipacs_associations_rejected_total", "counter", "Associations rejected, by reason.");
  const reasons = new Set([...REJECT_LABELS, ...Object.keys(totals.rejectedByReason)]);
  for (const reason of reasons) {
    e.sample("minipacs_associations_rejected_total", totals.rejectedByReason[reason] ?? 0, {
      reason,
    });
  }
  e.family("minipacs_associations_aborted_total", "counter", "Associations ended by A-ABORT.");
  e.sample("minipacs_associations_aborted_total", totals.aborted);

  e.family(
    "minipacs_dimse_operations_total",
    "counter",
    "DIMSE operations answered with a final status, by service and status.",
  );
  for (const op of st.operations()) {
    e.sample("minipacs_dimse_operations_total", op.count, {
      service: op.service,
      status: `0x${op.status.toString(16).toUpperCase().padStart(4, "0")}`,
    });
  }

  const bytes = st.bytes();
  e.family("minipacs_received_bytes_total", "counter", "Bytes received on DICOM associations.");
  e.sample("minipacs_received_bytes_total", bytes.received);
  e.family("minipacs_sent_bytes_total", "counter", "Bytes sent on DICOM associations.");
  e.sample("minipacs_sent_bytes_total", bytes.sent);

  const h = st.storeDuration();
  e.family(
    "minipacs_store_duration_seconds",
    "histogram",
    "C-STORE duration, first byte of the request to the response.",
  );
  STORE_DURATION_BUCKETS.forEach((le, i) =>
    e.sample("minipacs_store_duration_seconds_bucket", h.buckets[i], { le: String(le) })
  );
  e.sample("minipacs_store_duration_seconds_bucket", h.count, { le: "+Inf" });
  e.sample("minipacs_store_duration_seconds_sum", h.sum);
  e.sample("minipacs_store_duration_seconds_count", h.count);

  e.family("minipacs_index_entities", "gauge", "Rows in the index, by level.");
  e.sample("minipacs_index_entities", s.totals.patients, { level: "patient" });
  e.sample("minipacs_index_entities", s.totals.studies, { level: "study" });
  e.sample("minipacs_index_entities", s.totals.series, { level: "series" });
  e.sample("minipacs_index_entities", s.totals.instances, { level: "instance" });
  e.family("minipacs_stored_bytes", "gauge", "Size of the stored objects.");
  e.sample("minipacs_stored_bytes", s.totals.bytes);
  if (s.indexFileBytes !== null) {
    e.family("minipacs_index_file_bytes", "gauge", "Size of index.sqlite and its WAL.");
    e.sample("minipacs_index_file_bytes", s.indexFileBytes);
  }
  e.family("minipacs_journal_pending_objects", "gauge", "Objects not yet in their home files.");
  e.sample("minipacs_journal_pending_objects", s.pendingObjects);
  if (s.freeBytes !== null) {
    e.family(
      "minipacs_disk_free_bytes",
      "gauge",
      "Free bytes on the storage volume, counting the journal segments kept for reuse.",
    );
    e.sample("minipacs_disk_free_bytes", s.freeBytes);
  }
  e.family("minipacs_disk_min_free_bytes", "gauge", "storage.min_free_mb, in bytes.");
  e.sample("minipacs_disk_min_free_bytes", s.minFreeBytes);
  if (s.memory) {
    e.family("minipacs_resident_memory_bytes", "gauge", "Resident memory of the server process.");
    e.sample("minipacs_resident_memory_bytes", s.memory.rss);
    e.family(
      "minipacs_js_heap_bytes",
      "gauge",
      "JavaScript heap: reserved from the system (total) and in use by live objects (used).",
    );
    e.sample("minipacs_js_heap_bytes", s.memory.heapTotal, { kind: "total" });
    e.sample("minipacs_js_heap_bytes", s.memory.heapUsed, { kind: "used" });
    e.family(
      "minipacs_js_external_bytes",
      "gauge",
      "Memory held outside the JavaScript heap by its objects (buffers).",
    );
    e.sample("minipacs_js_external_bytes", s.memory.external);
  }
  return e.lines.join("\n") + "\n";
}
