// A strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws on
// anything a scraper could trip on, and checks what our conventions promise (counters end
// in _total and never go negative, histograms are cumulative and complete).

export interface Exposition {
  /** Family name -> type. */
  types: Map<string, string>;
  /** Series (`name{a="b",...}` with labels sorted) -> value. */
  samples: Map<string, number>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `s[0] === "{"`; returns labels and the rest. */
function parseLabels(s: string, line: number): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1;
  for (let guard = 0; guard < 1000; guard++) {
    if (s[i] === "}") return [labels, s.slice(i + 1)];
    const eq = s.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${name}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let value = "";
    let j = eq + 2;
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === "\\") {
        const next = s[++j];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else throw new Error(`line ${line}: bad escape \\${next}`);
      } else value += s[j];
    }
    if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") throw new Error(`line ${line}: expected "," or "}" after a label`);
  }
  throw new Error(`line ${line}: too many labels`);
}

export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(",")}}` : name;
}

/** The family a sample name belongs to (histogram suffixes stripped when typed so). */
function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : "";
    if (base && (types.get(base) === "histogram" || types.get(base) === "summary")) return base;
  }
  return name;
}

export function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples = new Map<string, number>();
  const finished = new Set<string>();
  let current = "";
  const buckets = new Map<string, [number, number][]>();
  text.slice(0, -1).split("\n").forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === "") throw new Error(`line ${line}: empty line`);
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        if (types.has(name)) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (finished.has(name) || current === name) {
          throw new Error(`line ${line}: TYPE after samples of ${name}`);
        }
        types.set(name, rest);
      } else {
        if (helps.has(name)) throw new Error(`line ${line}: second HELP for ${name}`);
        helps.add(name);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = m[1];
    let rest = m[2];
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, line);
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3) {
      throw new Error(`line ${line}: expected one space, a value and maybe a timestamp`);
    }
    const value = parseValue(parts[1], line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) {
      throw new Error(`line ${line}: bad timestamp`);
    }
    const family = familyOf(name, types);
    const type = types.get(family);
    if (!type) throw new Error(`line ${line}: ${name} has no TYPE line before it`);
    if (family !== current) {
      if (finished.has(family)) throw new Error(`line ${line}: samples of ${family} not together`);
      if (current) finished.add(current);
      current = family;
    }
    const key = seriesKey(name, labels);
    if (samples.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    samples.set(key, value);
    if (type === "counter") {
      if (!name.endsWith("_total")) throw new Error(`line ${line}: counter ${name} lacks _total`);
      if (!(value >= 0)) throw new Error(`line ${line}: counter ${name} is ${value}`);
    }
    if (type === "histogram" && name === `${family}_bucket`) {
      if (labels.le === undefined) throw new Error(`line ${line}: bucket without le`);
      const { le: _le, ...others } = labels;
      const group = seriesKey(family, others);
      const list = buckets.get(group) ?? [];
      list.push([parseValue(labels.le, line), value]);
      buckets.set(group, list);
    }
  });
  for (const [group, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i][0] > list[i - 1][0])) throw new Error(`${group}: le not increasing`);
      if (list[i][1] < list[i - 1][1]) throw new Error(`${group}: buckets not cumulative`);
    }
    const last = list.at(-1)!;
    if (last[0] !== Infinity) throw new Error(`${group}: no +Inf bucket`);
    const base = group.replace(/\{.*$/, "");
    const labelPart = group.slice(base.length);
    const count = samples.get(`${base}_count${labelPart}`);
    if (count !== last[1]) throw new Error(`${group}: +Inf bucket differs from _count`);
    if (!samples.has(`${base}_sum${labelPart}`)) throw new Error(`${group}: no _sum`);
  }
  return { types, samples };
}
