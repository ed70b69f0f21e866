// The page frame (navigation, embedded style sheet) and the formatting helpers every page
// uses. Values reach HTML only through hono's `html` template, which escapes them.
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Served as /style.css (embedded: `deno compile` carries it). */
export const STYLE_CSS = `
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #dde2e8; --bg: #f6f7f9; --card: #fff;
  --accent: #2563a8; --ok: #1f7a3d; --bad: #b42318; --warn: #a15c00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 0 24px; display: flex; align-items: center;
  gap: 28px; height: 48px; }
header .brand { font-weight: 600; letter-spacing: .3px; }
header .brand small { color: #9aa6b8; font-weight: 400; margin-left: 6px; }
nav a { color: #c9d2de; text-decoration: none; margin-right: 18px; }
nav a:hover, nav a.here { color: #fff; }
nav a.here { border-bottom: 2px solid #6ea8e8; padding-bottom: 12px; }
main { padding: 20px 24px 40px; max-width: 1200px; }
h1 { font-size: 20px; margin: 4px 0 16px; font-weight: 600; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 14px;
  margin-bottom: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 16px; margin-bottom: 14px; }
.grid .card { margin-bottom: 0; }
.kv { display: grid; grid-template-columns: auto 1fr; gap: 3px 14px; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; font-variant-numeric: tabular-nums; }
.big { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .4px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
.card > table { margin: -4px 0; }
a { color: var(--accent); }
code, pre { font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px;
  overflow: auto; }
form.search { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; }
form.search label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select { font: inherit; padding: 5px 8px; border: 1px solid #c4ccd6; border-radius: 5px;
  background: #fff; }
button { font: inherit; padding: 5px 14px; border: 1px solid var(--accent); border-radius: 5px;
  background: var(--accent); color: #fff; cursor: pointer; }
button.light { background: #fff; color: var(--accent); }
.pager { display: flex; gap: 16px; margin-top: 10px; }
.kv.gap { margin-top: 8px; }
svg.bar { display: block; width: 100%; height: 8px; margin-top: 8px; }
svg.bar .track { fill: #e6eaef; }
svg.bar .fill { fill: var(--accent); }
svg.bar.low .fill { fill: var(--bad); }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart rect.b { fill: #6ea8e8; }
svg.chart line { stroke: var(--line); }
svg.chart text { fill: var(--muted); font-size: 11px; }
.events td { white-space: nowrap; }
.events td.text { white-space: normal; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px;
  background: #e8eef6; color: #23486f; }
.tag.bad { background: #fbe9e7; color: var(--bad); }
img.thumb { width: 64px; height: 64px; object-fit: contain; background: #111; border-radius: 4px;
  display: block; }
.preview img { max-width: 100%; background: #000; border-radius: 6px; display: block; }
.actions { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 0 0 14px; }
.actions form { display: inline-flex; gap: 6px; align-items: center; margin: 0; }
a.button { display: inline-block; padding: 5px 14px; border: 1px solid var(--accent);
  border-radius: 5px; text-decoration: none; background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.presets a { margin-right: 12px; }
.presets a.here { font-weight: 600; color: var(--fg); text-decoration: none; }
table.dump td { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  padding: 2px 8px; }
table.dump .d1 { padding-left: 26px; } table.dump .d2 { padding-left: 44px; }
table.dump .d3 { padding-left: 62px; } table.dump .d4 { padding-left: 80px; }
table.dump .d5 { padding-left: 98px; } table.dump .d6 { padding-left: 116px; }
.result { font-size: 16px; }
`;

export type Section =
  | "dashboard"
  | "associations"
  | "studies"
  | "peers"
  | "forward"
  | "config";

const NAV: [Section, string, string][] = [
  ["dashboard", "/", "Dashboard"],
  ["associations", "/associations", "Associations"],
  ["studies", "/studies", "Studies"],
  ["peers", "/peers", "Peers"],
  ["forward", "/forward", "Forwarding"],
  ["config", "/config", "Config"],
];

export interface PageOptions {
  title: string;
  section: Section;
  aeTitle: string;
  /** Seconds between automatic reloads (the dashboard). */
  refresh?: number;
}

export function page(o: PageOptions, body: Html): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    ${o.refresh ? html`<meta http-equiv="refresh" content="${o.refresh}">` : ""}
    <title>${o.title} · ${o.aeTitle} · MiniPACS</title>
    <link rel="stylesheet" href="/style.css">
      </head>
      <body>
        <header>
          <span class="brand">MiniPACS<small>${o.aeTitle}</small></span>
          <nav>${NAV.map(([s, href, label]) =>
            html`
              <a href="${href}" ${s === o.section
                ? html`
                  class="here"
                `
                : ""}>${label}</a>
            `
          )}</nav>
        </header>
        <main>
    ${body}
        </main>
      </body>
    </html>
  `;
}

// ---- formatting ----

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** 1536 -> "1.5 KB" (powers of 1024). */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`;
}

/** 93784 -> "1d 2h 3m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Local "YYYY-MM-DD HH:MM:SS" of a time in ms. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** DICOM DA "20240315" -> "2024-03-15"; anything else as it is. */
export function formatDa(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** DICOM TM "101500.123" -> "10:15:00". */
export function formatTm(tm: string): string {
  const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(tm.trim());
  if (!m) return tm;
  return [m[1], m[2] ?? "00", m[3] ?? "00"].join(":");
}

/** DICOM PN "Doe^John^^Dr" -> "Doe, John" (alphabetic group, prefix and suffix kept). */
export function formatPn(pn: string): string {
  const [family = "", given = "", middle = "", prefix = "", suffix = ""] = pn.split("=")[0]
    .split("^").map((c) => c.trim());
  const first = [prefix, given, middle].filter(Boolean).join(" ");
  const name = [family, first].filter(Boolean).join(", ");
  return [name, suffix].filter(Boolean).join(" ") || pn;
}

export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}
