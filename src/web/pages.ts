// The server-rendered pages: dashboard, associations, studies, study, peers, config. Pure
// functions of the data they show; every value goes through hono's escaping `html`.
import { html } from "hono/html";
import type { KnownAe } from "../config.ts";
import type { OpenAssociation } from "../app/stats.ts";
import { storesChart } from "./chart.ts";
import type { EchoResult } from "../core/services/echo_scu.ts";
import {
  formatBytes,
  formatDa,
  formatDuration,
  formatNumber,
  formatPn,
  formatTime,
  formatTm,
  type Html,
  page,
} from "./html_layout.ts";
import { actionBar, type PageRights, thumbCell } from "./browse_pages.ts";
import type { Status } from "./status.ts";
import type { StudyDetail, StudyPage, StudySearch } from "../storage/catalog.ts";

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

function studiesLink(search: StudySearch, cursor: { after?: string; before?: string }): string {
  const p = new URLSearchParams();
  const set = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== "") p.set(k, String(v));
  };
  set("name", search.name);
  set("patient_id", search.patientId);
  set("from", search.from);
  set("to", search.to);
  set("modality", search.modality);
  set("accession", search.accession);
  set("limit", search.limit);
  set("after", cursor.after);
  set("before", cursor.before);
  const q = p.toString();
  return `/studies${q ? `?${q}` : ""}`;
}

export function studiesPage(
  aeTitle: string,
  search: StudySearch,
  result: StudyPage | { error: string },
  /** The viewer page of a study, when a viewer is served. */
  viewerUrl?: (studyInstanceUid: string) => string,
): Html {
  const v = (x: string | undefined) => x ?? "";
  const dateInput = (d: string | undefined) => {
    const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v(d));
    return m ? `${m[1]}-${m[2]}-${m[3]}` : v(d);
  };
  const form = html`<form class="search card" method="get" action="/studies">
<label>Patient name<input name="name" value="${
    v(search.name)
  }" placeholder="Doe^J*" size="16"></label>
<label>Patient ID<input name="patient_id" value="${v(search.patientId)}" size="12"></label>
<label>Study date from<input type="date" name="from" value="${dateInput(search.from)}"></label>
<label>to<input type="date" name="to" value="${dateInput(search.to)}"></label>
<label>Modality<input name="modality" value="${
    v(search.modality)
  }" placeholder="CT" size="5"></label>
<label>Accession<input name="accession" value="${v(search.accession)}" size="12"></label>
<button type="submit">Search</button> <a href="/studies">Clear</a>
</form>`;
  let list: Html;
  if ("error" in result) {
    list = html`
      <section class="card">
        <p class="bad">${result.error}</p>
      </section>
    `;
  } else if (result.studies.length === 0) {
    list = html`
      <section class="card">
        <p class="muted" id="no-studies">No study matches.</p>
      </section>
    `;
  } else {
    list =
      html`<section class="card"><table id="studies"><thead><tr><th>Patient</th><th>Patient ID</th>
<th>Study date</th><th>Description</th><th>Modalities</th><th>Accession</th>
<th class="num">Series</th><th class="num">Instances</th>${
        viewerUrl ? html`<th>Viewer</th>` : ""
      }</tr></thead><tbody>
${
        result.studies.map((s) =>
          html`
            <tr>
              <td><a href="/studies/${encodeURIComponent(
                s.studyInstanceUid,
              )}">${formatPn(s.patientName) || "(no name)"}</a></td>
              <td>${s.patientId}</td>
              <td>${formatDa(s.studyDate)}</td>
              <td>${s.studyDescription}</td>
              <td>${s.modalities.join(", ")}</td>
              <td>${s.accessionNumber}</td>
              <td class="num">${s.series}</td>
              <td class="num">${formatNumber(s.instances)}</td>
              ${viewerUrl
                ? html`<td><a class="viewer" href="${viewerUrl(s.studyInstanceUid)}">Open</a></td>`
                : ""}
            </tr>
          `
        )
      }
</tbody></table>
${
        result.partial
          ? html`<p class="muted">Stopped after reading many non-matching studies: go on with “Older”.</p>`
          : ""
      }
</section>`;
  }
  const pager = "error" in result || (!result.prev && !result.next) ? "" : html`<div class="pager">
${result.prev ? html`<a href="${studiesLink(search, { before: result.prev })}">← Newer</a>` : ""}
${result.prev ? html`<a href="${studiesLink(search, {})}">Newest</a>` : ""}
${result.next ? html`<a href="${studiesLink(search, { after: result.next })}">Older →</a>` : ""}
</div>`;
  return page(
    { title: "Studies", section: "studies", aeTitle },
    html`<h1>Studies</h1>${form}${list}${pager}`,
  );
}

export function studyPage(
  aeTitle: string,
  d: StudyDetail,
  o: { thumbs?: ReadonlyMap<string, string>; rights?: PageRights; extra?: Html | string } = {},
): Html {
  const s = d.study;
  const body = html`
    <h1>Study: ${s.studyDescription || s.studyInstanceUid}</h1>
    ${o.rights ? actionBar("studies", s.studyInstanceUid, o.rights) : ""}
    <div class="grid">
      <section class="card">
        <h2>Patient</h2>
        <dl class="kv">
          <dt>Name</dt>
          <dd id="patient-name">${formatPn(s.patientName)}</dd>
          <dt>ID</dt>
          <dd>${s.patientId}</dd>
          <dt>Birth date</dt>
          <dd>${formatDa(s.patientBirthDate)}</dd>
          <dt>Sex</dt>
          <dd>${s.patientSex}</dd>
        </dl>
      </section>
      <section class="card">
        <h2>Study</h2>
        <dl class="kv">
          <dt>Date</dt>
          <dd>${formatDa(s.studyDate)} ${formatTm(s.studyTime)}</dd>
          <dt>Accession</dt>
          <dd>${s.accessionNumber}</dd>
          <dt>Study ID</dt>
          <dd>${s.studyId}</dd>
          <dt>Referring</dt>
          <dd>${formatPn(s.referringPhysicianName)}</dd>
          <dt>Instances</dt>
          <dd>${formatNumber(s.instances)} in ${s.series} series</dd>
        </dl>
      </section>
    </div>
    <section class="card">
      <h2>Series</h2>
      <table id="series">
        <thead>
          <tr>
            ${o.thumbs
              ? html`
                <th></th>
              `
              : ""}
            <th class="num">#</th>
            <th>Modality</th>
            <th>Description</th>
            <th>Body part</th>
            <th>Date</th>
            <th class="num">Instances</th>
          </tr>
        </thead>
        <tbody>
    ${d.series.map((se) =>
      html`
        <tr>
          ${o.thumbs
            ? html`
              <td><a href="/series/${se.seriesInstanceUid}">${thumbCell(
                o.thumbs.get(se.seriesInstanceUid),
              )}</a></td>
            `
            : ""}
          <td class="num"><a href="/series/${se.seriesInstanceUid}">${se.seriesNumber ||
            "?"}</a></td>
          <td>${se.modality}</td>
          <td><a href="/series/${se.seriesInstanceUid}">${se.seriesDescription ||
            "(no description)"}</a></td>
          <td>${se.bodyPartExamined}</td>
          <td>${formatDa(se.seriesDate)}</td>
          <td class="num">${formatNumber(se.instances)}</td>
        </tr>
      `
    )}
        </tbody>
      </table>
    </section>
    ${o.extra ?? ""}
    <p class="muted">Study Instance UID <code>${s.studyInstanceUid}</code></p>
  `;
  return page({ title: "Study", section: "studies", aeTitle }, body);
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
