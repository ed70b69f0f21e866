// The pages of stored studies: the study list with its search form and pages of results,
// and one study with its series. Pure functions of the data they show; every value goes
// through hono's escaping `html`.
import { html } from "hono/html";
import { formatDa, formatNumber, formatPn, formatTm, type Html, page } from "./html_layout.ts";
import { actionBar, type PageRights, thumbCell } from "./browse_pages.ts";
import type { StudyDetail, StudyPage, StudySearch } from "../storage/catalog.ts";

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
