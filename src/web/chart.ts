// Stores per minute over the last hour as an inline SVG bar chart: no chart library, no
// script, just rectangles scaled to the busiest minute.
import { html } from "hono/html";
import type { Html } from "./html_layout.ts";

// Drawn about as wide as it is shown on a desktop, so that the labels keep their size.
const W = 1100;
const H = 130;
const LEFT = 30;
const BOTTOM = 20;
const TOP = 8;

/** A "nice" axis maximum: 1, 2, 5, 10, 20, 50... at least `n`. */
function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= n)!;
}

/** `perMinute` holds the last minutes, oldest first (the last entry is the current minute). */
export function storesChart(perMinute: readonly number[]): Html {
  const max = niceMax(Math.max(0, ...perMinute));
  const plotW = W - LEFT - 4;
  const plotH = H - TOP - BOTTOM;
  const slot = plotW / Math.max(1, perMinute.length);
  const bars = perMinute.map((n, i) => {
    if (n <= 0) return "";
    const h = Math.max(1, (n / max) * plotH);
    const x = LEFT + i * slot + 0.5;
    const y = TOP + plotH - h;
    const ago = perMinute.length - 1 - i;
    return html`
      <rect class="b" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, slot - 1.5)
        .toFixed(1)}" height="${h.toFixed(1)}">
        <title>${n} stored ${ago === 0 ? "this minute" : `${ago} min ago`}</title>
      </rect>
    `;
  });
  const total = perMinute.reduce((a, b) => a + b, 0);
  const axisY = TOP + plotH;
  const ticks = [0, 15, 30, 45, 59].map((ago) => {
    const x = LEFT + (perMinute.length - 1 - ago) * slot + slot / 2;
    const anchor = ago === 0 ? "end" : "middle";
    return html`<text x="${(ago === 0 ? W - 4 : x).toFixed(1)}" y="${
      H - 5
    }" text-anchor="${anchor}">${ago === 0 ? "now" : `-${ago}m`}</text>`;
  });
  return html`
    <svg class="chart" viewBox="0 0 ${W} ${H}" role="img"
      aria-label="${total} objects stored in the last hour">
    <line x1="${LEFT}" y1="${TOP}" x2="${W - 4}" y2="${TOP}"/>
    <line x1="${LEFT}" y1="${axisY}" x2="${W - 4}" y2="${axisY}"/>
    <text x="${LEFT - 6}" y="${TOP + 4}" text-anchor="end">${max}</text>
    <text x="${LEFT - 6}" y="${axisY}" text-anchor="end">0</text>
    ${bars}${ticks}
    </svg>
  `;
}
