// Storage commitment on the web side: the metric of reports still owed to modalities.

/** Prometheus text for storage commitment (appended to /metrics). */
export function commitmentMetrics(pending: number): string {
  return [
    "# HELP minipacs_commitment_reports_pending Storage commitment reports not yet delivered.",
    "# TYPE minipacs_commitment_reports_pending gauge",
    `minipacs_commitment_reports_pending ${pending}`,
  ].join("\n") + "\n";
}
