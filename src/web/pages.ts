// The server-rendered pages: dashboard, associations, peers, config, errors (the studies are
// in study_pages.ts). Pure functions of the data they show; every value goes through hono's
// escaping `html`.
import { html } from "hono/html";
import type { KnownAe } from "../config.ts";
import type { OpenAssociation } from "../app/stats.ts";
import { storesChart } from "./chart.ts";
import type { EchoResult } from "../core/services/echo_scu.ts";
import {
  formatBytes,
  formatDuration,
  formatNumber,
  formatTime,
  type Html,
  page,
} from "./html_layout.ts";
import type { Status } from "./status.ts";

const KIND_LABEL: Record<string, string> = {
  accepted: "assoc",
  rejected: "rejected",
  aborted: "aborted",
  store: "store",
  find: "find",
  move: "move",
  get: "get",
  echo: "echo",
  "echo-scu": "echo out",
  delete: "delete",
  send: "send",
};

export function dashboardPage(s: Status): Html {
  const a = s.associations;
  const st = s.storage;
  const free = st.freeBytes;
  // The bar shows free space against twice the threshold (full bar = comfortably above).
  const scale = Math.max(st.minFreeBytes * 2, 1);
  const fill = free === null ? 0 : Math.min(100, (free / scale) * 100);
  const lastHour = s.storesPerMinute.reduce((x, y) => x + y, 0);
  const body = html`
    <h1>Dashboard</h1>
    <div class="grid">
      <section class="card" id="server">
        <h2>Server</h2>
        <dl class="kv">
          <dt>Version</dt>
          <dd>${s.version}</dd>
          <dt>AE title</dt>
          <dd>${s.aeTitle}</dd>
          <dt>DICOM port</dt>
          <dd>${s.dicomPort}</dd>
          <dt>HTTP port</dt>
          <dd>${s.httpPort ?? "off"}</dd>
          <dt>Uptime</dt>
          <dd>${formatDuration(s.uptimeSeconds)}</dd>
        </dl>
      </section>
      <section class="card" id="associations">
        <h2>Associations</h2>
        <div class="big" id="open-associations">${a.open}</div>
        <div class="muted">open now</div>
        <dl class="kv gap">
          <dt>Accepted today</dt>
          <dd id="today-accepted">${a.today.accepted}</dd>
          <dt>Rejected today</dt>
          <dd id="today-rejected" class="${a.today.rejected ? "warn" : ""}">${a.today.rejected}</dd>
          <dt>Aborted today</dt>
          <dd id="today-aborted" class="${a.today.aborted ? "bad" : ""}">${a.today.aborted}</dd>
        </dl>
      </section>
      <section class="card" id="stored">
        <h2>Stored</h2>
        <div class="big" id="objects">${formatNumber(st.instances)}</div>
        <div class="muted">objects</div>
        <dl class="kv gap">
          <dt>Studies</dt>
          <dd id="studies">${formatNumber(st.studies)}</dd>
          <dt>Patients</dt>
          <dd id="patients">${formatNumber(st.patients)}</dd>
          <dt>On disk</dt>
          <dd id="stored-bytes">${formatBytes(st.storedBytes)}${st.pendingObjects
            ? html`
              <span class="muted" id="journal">(${st.pendingObjects} objects, ${formatBytes(
                st.pendingBytes,
              )} in journal${st.journalBlocked ? ": disk full, waiting for room" : ""})</span>
            `
            : ""}</dd>
          ${st.storedBytes < st.bytes
            ? html`
              <dt>Received</dt>
              <dd id="space-saved">${formatBytes(st.bytes)}; compression saves ${formatBytes(
                st.bytes - st.storedBytes,
              )} (${(100 * (st.bytes - st.storedBytes) / st.bytes).toFixed(0)}%)</dd>
            `
            : ""}
        </dl>
      </section>
      <section class="card" id="disk">
        <h2>Disk</h2>
        <div class="big ${st.belowMinFree ? "bad" : ""}">${free === null
          ? "unknown"
          : formatBytes(free)}</div>
        <div class="muted">free; stores are refused below ${formatBytes(st.minFreeBytes)}</div>
        ${st.journalReserveBytes
          ? html`
            <dl class="kv gap">
              <dt>Journal reserve</dt>
              <dd id="journal-reserve">${formatBytes(st.journalReserveBytes)}</dd>
            </dl>
            <div class="muted">written ahead for incoming images, not images; counted as free</div>
          `
          : ""}
        <svg class="bar${st.belowMinFree
          ? " low"
          : ""}" viewBox="0 0 100 8" preserveAspectRatio="none">
          <rect class="track" width="100" height="8" rx="2" />
          <rect class="fill" width="${fill.toFixed(1)}" height="8" rx="2" />
        </svg>
      </section>
    </div>
    <section class="card"
      id="chart"><h2>Stores per minute, last hour <span class="muted">(${formatNumber(
        lastHour,
      )} objects)</span></h2>
    ${storesChart(s.storesPerMinute)}
    </section>
    ${s.audit ? auditSection(s.audit) : ""}
    <section class="card" id="events"><h2>Recent events</h2>
    ${s.events.length === 0 ? html`<p class="muted">Nothing yet.</p>` : html`
      <table class="events">
        <thead>
          <tr>
            <th>Time</th>
            <th>Event</th>
            <th>Peer</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
      ${s.events.map((e) =>
        html`
          <tr>
            <td>${formatTime(Date.parse(e.time))}</td>
            <td><span class="tag${e.ok ? "" : " bad"}">${KIND_LABEL[e.kind] ?? e.kind}</span></td>
            <td>${e.peer}</td>
            <td class="text">${e.text}</td>
          </tr>
        `
      )}
        </tbody>
      </table>
    `}
    </section>
  `;
  return page({ title: "Dashboard", section: "dashboard", aeTitle: s.aeTitle, refresh: 10 }, body);
}

function auditSection(events: NonNullable<Status["audit"]>) {
  return html`
    <section class="card" id="audit"><h2>Audit trail <span class="muted">(latest)</span></h2>
    ${events.length === 0 ? html`<p class="muted">Nothing yet.</p>` : html`
      <table class="events">
        <thead>
          <tr>
            <th>Time</th>
            <th>Event</th>
            <th>Who</th>
            <th>From</th>
            <th>Outcome</th>
          </tr>
        </thead>
        <tbody>
      ${events.map((e) =>
        html`
          <tr>
            <td>${formatTime(Date.parse(e.time))}</td>
            <td>${e.event}${e.type ? ` (${e.type})` : ""}</td>
            <td>${e.user}</td>
            <td>${e.from}</td>
            <td class="text"><span class="tag${e.ok ? "" : " bad"}">${e.outcome}</span></td>
          </tr>
        `
      )}
        </tbody>
      </table>
    `}
    </section>
  `;
}

function servicesText(services: Record<string, number>): string {
  const parts = Object.entries(services).map(([name, n]) => `${name} ×${n}`);
  return parts.length ? parts.join(", ") : "—";
}

export function associationsPage(
  aeTitle: string,
  open: OpenAssociation[],
  now = Date.now(),
): Html {
  const body = html`<h1>Associations</h1>
<section class="card"><h2>Open now: ${open.length}</h2>
${
    open.length === 0 ? html`<p class="muted">No association is open.</p>` : html`
      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>Peer AE</th>
            <th>Address</th>
            <th>Called AE</th>
            <th>Since</th>
            <th>Services</th>
            <th class="num">Received</th>
            <th class="num">Sent</th>
          </tr>
        </thead>
        <tbody>
      ${open.map((a) =>
        html`
          <tr>
            <td>${a.id}</td>
            <td>${a.callingAeTitle}</td>
            <td>${a.remote}</td>
            <td>${a.calledAeTitle}</td>
            <td>${formatTime(a.since)} <span class="muted">(${formatDuration(
              (now - a.since) / 1000,
            )})</span></td>
            <td>${servicesText(a.services)}</td>
            <td class="num">${formatBytes(a.bytesReceived)}</td>
            <td class="num">${formatBytes(a.bytesSent)}</td>
          </tr>
        `
      )}
        </tbody>
      </table>
    `
  }
</section>`;
  return page({ title: "Associations", section: "associations", aeTitle }, body);
}

export function peersPage(aeTitle: string, peers: KnownAe[], result?: EchoResult): Html {
  const outcome = result
    ? html`
      <section class="card" id="echo-result">
        <h2>C-ECHO to ${result.aeTitle}</h2>
        <p class="${result.ok ? "ok" : "bad"}">${result.ok ? "Success" : "Failed"}: ${result
          .message}${result.roundTripMs !== null
          ? html`
            · round trip ${result.roundTripMs.toFixed(2)} ms
          `
          : ""}${result.setupMs !== null
          ? html`
            · association set-up ${result.setupMs.toFixed(2)} ms
          `
          : ""}</p>
      </section>
    `
    : "";
  const body = html`<h1>Peers</h1>${outcome}
<section class="card"><h2>Known AEs (<code>[[known_ae]]</code>)</h2>
${
    peers.length === 0
      ? html`<p class="muted">No <code>[[known_ae]]</code> entry in the configuration.</p>`
      : html`
        <table>
          <thead>
            <tr>
              <th>AE title</th>
              <th>Host</th>
              <th class="num">Port</th>
              <th class="num">Max associations</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
        ${peers.map((p) =>
          html`
            <tr>
              <td>${p.aeTitle}</td>
              <td>${p.host}</td>
              <td class="num">${p.port}</td>
              <td class="num">${p.maxAssociations}</td>
              <td>
                <form method="post"
                  action="/peers/${encodeURIComponent(
                    p.aeTitle,
                  )}/echo"><button class="light" type="submit">C-ECHO</button></form>
              </td>
            </tr>
          `
        )}
          </tbody>
        </table>
      `
  }
</section>`;
  return page({ title: "Peers", section: "peers", aeTitle }, body);
}

export function configPage(aeTitle: string, toml: string): Html {
  const body = html`<h1>Configuration</h1>
<p class="muted">The effective settings (defaults filled in, password hashes masked).</p>
<pre id="config">${toml}</pre>`;
  return page({ title: "Config", section: "config", aeTitle }, body);
}

export function errorPage(aeTitle: string, status: number, message: string): Html {
  return page(
    { title: String(status), section: "dashboard", aeTitle },
    html`
      <h1>${status}</h1>
      <section class="card">
        <p>${message}</p>
      </section>
    `,
  );
}
