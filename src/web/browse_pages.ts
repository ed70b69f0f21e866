// The pages for looking at what is stored and acting on it: the instance list of a series, an
// instance with its preview and tags, and the confirmation and result pages of the actions
// (send, delete). Server-rendered without script: every action is a link or a form, and
// nothing changes before a confirmation page has been answered with a POST.
import { html } from "hono/html";
import type { KnownAe } from "../config.ts";
import type { DicomDump } from "../core/dicom/dump.ts";
import { sopClassName } from "../core/dicom/sop_classes.ts";
import type { EntityInstance } from "../storage/entity_instances.ts";
import type { SeriesSummary, StudySummary } from "../storage/catalog.ts";
import {
  formatBytes,
  formatDa,
  formatNumber,
  formatPn,
  formatTime,
  type Html,
  page,
} from "./html_layout.ts";
import { WINDOW_PRESETS } from "./preview.ts";
import { viewerUrl } from "./viewer.ts";

export type EntityKind = "studies" | "series" | "instances";

const WHAT: Record<EntityKind, string> = {
  studies: "study",
  series: "series",
  instances: "instance",
};

/** What the viewing user may do (viewers: see and download; admins: also send and delete). */
export interface PageRights {
  admin: boolean;
  knownAe: readonly KnownAe[];
  /** The OHIF viewer is served ([viewer] ohif_path): studies get an "Open in viewer" link. */
  viewer?: boolean;
}

/** The action bar of a study, series or instance: download, send to, delete. */
export function actionBar(kind: EntityKind, uid: string, rights: PageRights): Html {
  const download = kind === "instances"
    ? `/api/instances/${uid}/file`
    : `/api/${kind}/${uid}/archive`;
  return html`
    <div class="actions" id="actions">
      ${rights.viewer && kind === "studies"
        ? html`
          <a class="button" id="open-viewer" href="${viewerUrl(uid)}">Open in viewer</a>
        `
        : ""}
      <a class="button" id="download" href="${download}" download>Download ${kind === "instances"
        ? "DICOM file"
        : "ZIP"}</a>
      ${rights.admin && rights.knownAe.length
        ? html`
          <form method="get" action="/${kind}/${uid}/send" id="send-form">
            <select name="destination" id="destination">
              ${rights.knownAe.map((k) =>
                html`
                  <option value="${k.aeTitle}">${k.aeTitle}</option>
                `
              )}
            </select>
            <button type="submit" class="light" id="send">Send…</button>
          </form>
        `
        : ""} ${rights.admin
        ? html`
          <form method="get" action="/${kind}/${uid}/delete">
            <button type="submit" class="danger" id="delete">Delete…</button>
          </form>
        `
        : ""}
    </div>
  `;
}

/** A thumbnail cell: the image of a representative instance, or a dash. */
export function thumbCell(sopInstanceUid: string | undefined): Html {
  return sopInstanceUid
    ? html`
      <img class="thumb" alt="thumbnail" src="/instances/${sopInstanceUid}/thumbnail">
    `
    : html`
      <span class="muted">–</span>
    `;
}

export function seriesPage(
  aeTitle: string,
  study: StudySummary,
  series: SeriesSummary,
  instances: readonly EntityInstance[],
  rights: PageRights,
): Html {
  const body = html`
    <h1>Series ${series.seriesNumber}: ${series.seriesDescription || series.modality}</h1>
    <p class="muted">
      <a href="/studies/${study.studyInstanceUid}">${formatPn(study.patientName)} · ${study
        .studyDescription || "study"} · ${formatDa(study.studyDate)}</a>
    </p>
    ${actionBar("series", series.seriesInstanceUid, rights)}
    <section class="card">
      <h2>${formatNumber(instances.length)} instances</h2>
      <table id="instances">
        <thead>
          <tr>
            <th></th>
            <th class="num">#</th>
            <th>SOP Class</th>
            <th>Transfer syntax</th>
            <th class="num">Size</th>
            <th>Received</th>
          </tr>
        </thead>
        <tbody>
          ${instances.map((i) =>
            html`
              <tr>
                <td>${thumbCell(i.sopInstanceUid)}</td>
                <td class="num"><a href="/instances/${i.sopInstanceUid}">${i.instanceNumber ||
                  "?"}</a></td>
                <td><a href="/instances/${i.sopInstanceUid}">${sopClassName(i.sopClassUid)}</a></td>
                <td><code>${i.transferSyntaxUid}</code></td>
                <td class="num">${formatBytes(i.size)}</td>
                <td>${formatTime(Date.parse(i.receivedAt))}</td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </section>
    <p class="muted">Series Instance UID <code>${series.seriesInstanceUid}</code></p>
  `;
  return page({ title: "Series", section: "studies", aeTitle }, body);
}

export function instancePage(
  aeTitle: string,
  instance: EntityInstance,
  dump: DicomDump | { error: string },
  preset: string,
  rights: PageRights,
): Html {
  const uid = instance.sopInstanceUid;
  const presets: [string, string][] = [
    ["file", "From the file"],
    ["full", "Full range"],
    ...WINDOW_PRESETS.map(([name, c, w]): [string, string] => [
      name.toLowerCase().replace(/ /g, "-"),
      `${name} (${c}/${w})`,
    ]),
  ];
  const body = html`
    <h1>Instance ${instance.instanceNumber}: ${sopClassName(instance.sopClassUid)}</h1>
    <p class="muted">
      <a href="/studies/${instance.studyInstanceUid}">Study</a> ›
      <a href="/series/${instance.seriesInstanceUid}">Series</a>
    </p>
    ${actionBar("instances", uid, rights)}
    <section class="card preview" id="preview">
      <h2>Preview</h2>
      <p class="presets" id="presets">Window: ${presets.map(([key, label]) =>
        html`
          <a href="/instances/${uid}?window=${key}" class="${key === preset
            ? "here"
            : ""}">${label}</a>
        `
      )}</p>
      <img id="preview-image" alt="preview" src="/instances/${uid}/preview?window=${preset}">
    </section>
    <section class="card" id="tags">
      <h2>Tags</h2>
      ${"error" in dump
        ? html`
          <p class="bad">${dump.error}</p>
        `
        : html`
          <p class="muted">Transfer syntax <code>${dump.transferSyntaxUid}</code></p>
          <table class="dump" id="tag-dump">
            <tbody>
              ${dump.lines.map((l) =>
                html`
                  <tr>
                    <td class="d${Math.min(6, l.depth)}">${l.tag}</td>
                    <td>${l.vr}</td>
                    <td>${l.name}</td>
                    <td>${l.value}</td>
                  </tr>
                `
              )} ${dump.pixelData
                ? html`
                  <tr>
                    <td>(7FE0,0010)</td>
                    <td></td>
                    <td>PixelData</td>
                    <td id="pixel-data">${dump.pixelData}</td>
                  </tr>
                `
                : ""}
            </tbody>
          </table>
        `}
    </section>
    <p class="muted">SOP Instance UID <code>${uid}</code></p>
  `;
  return page({ title: "Instance", section: "studies", aeTitle }, body);
}

/** "Delete this study (12 instances)?" with the POST that does it. */
export function confirmPage(
  aeTitle: string,
  o: {
    action: "delete" | "send";
    kind: EntityKind;
    uid: string;
    label: string;
    instances: number;
    destination?: KnownAe;
  },
): Html {
  const what = WHAT[o.kind];
  const question = o.action === "delete"
    ? `Delete this ${what} (${o.instances} instance${
      o.instances === 1 ? "" : "s"
    }) from the index and the disk? This cannot be undone.`
    : `Send this ${what} (${o.instances} instance${o.instances === 1 ? "" : "s"}) to ${
      o.destination!
        .aeTitle
    } at ${o.destination!.host}:${o.destination!.port}?`;
  const body = html`
    <h1>${o.action === "delete" ? "Delete" : "Send"} ${what}</h1>
    <section class="card" id="confirm">
      <p>${o.label}</p>
      <p class="result">${question}</p>
      <form method="post" action="/${o.kind}/${o.uid}/${o.action}" class="actions">
        ${o.destination
          ? html`
            <input type="hidden" name="destination" value="${o.destination.aeTitle}">
          `
          : ""}
        <button type="submit" id="confirm-button" class="${o.action === "delete"
          ? "danger"
          : ""}">${o.action === "delete" ? "Delete" : "Send"}</button>
        <a class="button" href="/${o.kind}/${o.uid}">Cancel</a>
      </form>
    </section>
  `;
  return page({ title: "Confirm", section: "studies", aeTitle }, body);
}

/** What an action did. */
export function resultPage(
  aeTitle: string,
  o: { ok: boolean; title: string; message: string; back: string; backLabel: string },
): Html {
  const body = html`
    <h1>${o.title}</h1>
    <section class="card" id="result">
      <p class="result ${o.ok ? "ok" : "bad"}" id="result-message">${o.message}</p>
      <p><a href="${o.back}">${o.backLabel}</a></p>
    </section>
  `;
  return page({ title: o.title, section: "studies", aeTitle }, body);
}
