// Forwarding on the web side: what /api/forward answers, the Forwarding page, the form on a
// study page, and the forward metrics.
import { html } from "hono/html";
import { type Html, page } from "./html_layout.ts";

/** One destination: its queue and how sending to it goes. */
export interface ForwardDestinationView {
  destination: string;
  queued: number;
  failed: number;
  /** ISO 8601, or null when nothing waits. */
  oldestQueuedAt: string | null;
  failing: boolean;
  lastError: string | null;
  lastErrorAt: string | null;
  retryAt: string | null;
  sent: number;
  failures: number;
  associations: number;
  /** Sent, their Storage Commitment asked for, no report yet. */
  awaitingCommitment: number;
  /** Objects reported committed there (all time). */
  committed: number;
  /** Objects reported not committed since start (sent again). */
  commitFailures: number;
}

export interface FailedForwardView {
  destination: string;
  sopInstanceUid: string;
  studyInstanceUid: string | null;
  queuedAt: string;
  attempts: number;
  lastError: string;
}

export interface ForwardView {
  destinations: ForwardDestinationView[];
  failed: FailedForwardView[];
  sentTotal: number;
  failuresTotal: number;
}

/** A study's Storage Commitment at one destination ([[route]] commit = true). */
export interface StudyCommitmentView {
  destination: string;
  /** Its instances reported committed there. */
  committed: number;
  /** Its instances to be sent or committed there still. */
  awaiting: number;
  /** ms since 1970 of the latest commitment; null when none. */
  lastCommittedAt: number | null;
}

/** What the web app may ask of forwarding. */
export interface ForwardSource {
  /** Per destination with commit = true routes: how much of the study is committed there. */
  studyCommitments?(study: string): StudyCommitmentView[];
  view(): ForwardView;
  /** Null when `destination` is not a known AE. */
  forwardStudy(study: string, destination: string): { instances: number; queued: number } | null;
  retryFailed(destination: string): number;
}

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** Prometheus text for forwarding (appended to /metrics). */
export function forwardMetrics(v: ForwardView): string {
  const lines = [
    "# HELP minipacs_forward_queue Objects waiting to be forwarded, per destination.",
    "# TYPE minipacs_forward_queue gauge",
    ...v.destinations.map((d) =>
      `minipacs_forward_queue{destination="${esc(d.destination)}"} ${d.queued}`
    ),
    "# HELP minipacs_forward_failed Objects on the failed list, per destination.",
    "# TYPE minipacs_forward_failed gauge",
    ...v.destinations.map((d) =>
      `minipacs_forward_failed{destination="${esc(d.destination)}"} ${d.failed}`
    ),
    "# HELP minipacs_forward_sent_total Objects the destinations acknowledged since start.",
    "# TYPE minipacs_forward_sent_total counter",
    `minipacs_forward_sent_total ${v.sentTotal}`,
    "# HELP minipacs_forward_awaiting_commitment Objects sent, commitment asked, no report yet.",
    "# TYPE minipacs_forward_awaiting_commitment gauge",
    ...v.destinations.map((d) =>
      `minipacs_forward_awaiting_commitment{destination="${
        esc(d.destination)
      }"} ${d.awaitingCommitment}`
    ),
    "# HELP minipacs_forward_committed Objects the destination reported committed.",
    "# TYPE minipacs_forward_committed gauge",
    ...v.destinations.map((d) =>
      `minipacs_forward_committed{destination="${esc(d.destination)}"} ${d.committed}`
    ),
    "# HELP minipacs_forward_failures_total Failed forward attempts (objects or associations).",
    "# TYPE minipacs_forward_failures_total counter",
    `minipacs_forward_failures_total ${v.failuresTotal}`,
  ];
  return lines.join("\n") + "\n";
}

const when = (iso: string | null) => iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";

export function forwardPage(aeTitle: string, v: ForwardView, message?: string): Html {
  const body = html`<h1>Forwarding</h1>
${message ? html`<p class="ok" id="forward-message">${message}</p>` : ""}
<section class="card" id="destinations"><h2>Destinations</h2>
${
    v.destinations.length === 0
      ? html`<p class="muted">No <code>[[route]]</code> and nothing queued.</p>`
      : html`
        <table>
          <thead>
            <tr>
              <th>Destination</th>
              <th class="num">Queued</th>
              <th>Oldest waiting</th>
              <th class="num">Sent</th>
              <th class="num">Awaiting commitment</th>
              <th class="num">Committed</th>
              <th class="num">Failed</th>
              <th>State</th>
              <th>Last error</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
        ${v.destinations.map((d) =>
          html`
            <tr>
              <td>${d.destination}</td>
              <td class="num">${d.queued}</td>
              <td>${when(d.oldestQueuedAt)}</td>
              <td class="num">${d.sent}</td>
              <td class="num">${d.awaitingCommitment}</td>
              <td class="num">${d.committed}</td>
              <td class="num">${d.failed}</td>
              <td>${d.failing
                ? html`<span class="tag bad">failing</span> retry ${when(d.retryAt)}`
                : html`<span class="tag">ok</span>`}</td>
              <td>${d.lastError ?? ""}${d.lastErrorAt ? ` (${when(d.lastErrorAt)})` : ""}</td>
              <td>${d.failed > 0
                ? html`
                  <form method="post"
                    action="/forward/${encodeURIComponent(
                      d.destination,
                    )}/retry"><button class="light" type="submit">Retry failed</button></form>
                `
                : ""}</td>
            </tr>
          `
        )}
          </tbody>
        </table>
      `
  }
</section>
<section class="card" id="failed"><h2>Failed (given up after <code>give_up_after_h</code>)</h2>
${
    v.failed.length === 0 ? html`<p class="muted">None.</p>` : html`
      <table>
        <thead>
          <tr>
            <th>Destination</th>
            <th>SOP Instance UID</th>
            <th>Queued</th>
            <th class="num">Attempts</th>
            <th>Last error</th>
          </tr>
        </thead>
        <tbody>
      ${v.failed.map((f) =>
        html`
          <tr>
            <td>${f.destination}</td>
            <td><code>${f.sopInstanceUid}</code></td>
            <td>${when(f.queuedAt)}</td>
            <td class="num">${f.attempts}</td>
            <td>${f.lastError}</td>
          </tr>
        `
      )}
        </tbody>
      </table>
    `
  }
</section>`;
  return page({ title: "Forwarding", section: "forward", aeTitle }, body);
}

/** The "Forward to" form of a study page, with where the study is committed. */
export function forwardForm(
  studyInstanceUid: string,
  destinations: readonly string[],
  commitments: readonly StudyCommitmentView[] = [],
): Html {
  if (destinations.length === 0 && commitments.length === 0) return html``;
  const committed = (c: StudyCommitmentView) =>
    c.awaiting === 0
      ? html`<span class="tag">committed at ${c.destination}</span> ${c.committed} object(s), ${
        when(c.lastCommittedAt === null ? null : new Date(c.lastCommittedAt).toISOString())
      }`
      : html`
        <span
          class="tag bad">not yet committed at ${c.destination}</span> ${c
            .committed} of ${c.committed + c.awaiting} object(s) committed
      `;
  return html`
    <section class="card" id="forward">
      <h2>Forward</h2>
      ${commitments.length === 0 ? "" : html`
        <ul id="commitments">${commitments.map((c) =>
          html`
            <li>${committed(c)}</li>
          `
        )}</ul>
      `}
      <form method="post" action="/studies/${encodeURIComponent(studyInstanceUid)}/forward">
        <select name="destination">${destinations.map((d) =>
          html`
            <option>${d}</option>
          `
        )}</select>
        <button type="submit">Forward study</button>
      </form>
    </section>
  `;
}
