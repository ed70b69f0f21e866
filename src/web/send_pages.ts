// The pages of sends: one send's progress (n of N sent, failures, the destination), reloaded
// every second while it runs, then its result; and the list of running and recent sends.
// Server-rendered without script, like the other pages.
import { html } from "hono/html";
import { formatNumber, type Html, page } from "./html_layout.ts";
import type { SendJob } from "./send_jobs.ts";

const KIND = { study: "studies", series: "series", instance: "instances" } as const;

/** "3 of 10 sent, 1 failed" (and the warnings). */
export function sendProgressText(j: SendJob): string {
  const sent = j.completed + j.warning;
  return `${formatNumber(sent)} of ${formatNumber(j.total)} sent` +
    (j.warning ? `, ${formatNumber(j.warning)} with a warning` : "") +
    (j.failed ? `, ${formatNumber(j.failed)} failed` : "");
}

function stateText(j: SendJob): string {
  return j.state === "running" ? "Sending" : j.state === "completed" ? "Sent" : "Send failed";
}

function destinationText(j: SendJob): string {
  return `${j.destination} at ${j.address}${j.tls ? " (TLS)" : ""}`;
}

/** One send: its progress while it runs (the page reloads itself), then its result. */
export function sendJobPage(aeTitle: string, j: SendJob): Html {
  const running = j.state === "running";
  const body = html`
    <h1>${stateText(j)}: ${j.level} to ${j.destination}</h1>
    <section class="card" id="send-job" data-state="${j.state}">
      <p>To <strong id="send-destination">${destinationText(j)}</strong>, asked by ${j.by}.</p>
      <p>
        <progress id="send-progress" max="${j.total}" value="${j.done}"></progress>
      </p>
      <p class="result ${running
        ? ""
        : j.state === "completed"
        ? "ok"
        : "bad"}" id="result-message">
        ${sendProgressText(j)}${running ? "…" : "."}${j.error
          ? html`
            <span>(${j.error})</span>
          `
          : ""}
      </p>
      ${j.failedSopInstanceUids.length
        ? html`
          <details>
            <summary>Failed instances</summary>
            <ul>${j.failedSopInstanceUids.slice(0, 100).map((u) =>
              html`<li><code>${u}</code></li>`
            )}</ul>
          </details>
        `
        : ""}
      <p>
        <a href="/${KIND[j.level]}/${j.uid}">Back to the ${j.level}</a> ·
        <a href="/sends">All sends</a>
      </p>
    </section>
  `;
  return page(
    { title: stateText(j), section: "studies", aeTitle, refresh: running ? 1 : undefined },
    body,
  );
}

/** Running sends and the recent finished ones. */
export function sendsPage(aeTitle: string, jobs: readonly SendJob[]): Html {
  const running = jobs.some((j) => j.state === "running");
  const body = html`
    <h1>Sends</h1>
    <section class="card" id="sends">
      ${jobs.length === 0 ? html`<p class="muted">No sends in the last hour.</p>` : html`
        <table>
          <thead>
            <tr>
              <th>Started</th>
              <th>What</th>
              <th>To</th>
              <th>By</th>
              <th>State</th>
              <th>Progress</th>
            </tr>
          </thead>
          <tbody>
            ${jobs.map((j) =>
              html`
                <tr data-state="${j.state}">
                  <td><a href="/sends/${j.id}">${j.startedAt.slice(0, 19).replace(
                    "T",
                    " ",
                  )}</a></td>
                  <td>${j.level} <code>${j.uid}</code></td>
                  <td>${destinationText(j)}</td>
                  <td>${j.by}</td>
                  <td class="${j.state === "failed" ? "bad" : j.state === "completed" ? "ok" : ""}">
                    ${stateText(j)}
                  </td>
                  <td>${sendProgressText(j)}</td>
                </tr>
              `
            )}
          </tbody>
        </table>
      `}
      <p class="muted">Finished sends stay listed for an hour (UTC times).</p>
    </section>
  `;
  return page(
    { title: "Sends", section: "studies", aeTitle, refresh: running ? 2 : undefined },
    body,
  );
}
