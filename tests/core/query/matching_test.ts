import assert from "node:assert/strict";
import { type DataElement, textElement } from "../../../src/core/dicom/dataset.ts";
import {
  combinedRange,
  elementsMatch,
  type Match,
  matchesDateTime,
  matchesText,
  MatchValueError,
  normalizeDate,
  normalizeDateTime,
  normalizeTime,
  rowMatches,
  termsFor,
} from "../../../src/core/query/matching.ts";

function key(vr: string, value: string, field = "f"): Match {
  return { tag: 0, vr, field, terms: termsFor(vr, value, true) };
}
const hit = (vr: string, query: string, stored: string) => matchesText(key(vr, query), stored);

Deno.test("normalizeDate/Time/DateTime() pad reduced precision to the start or the end", () => {
  assert.equal(normalizeDate("20240315"), "20240315");
  assert.equal(normalizeDate("2024.03.15"), "20240315", "ACR-NEMA dates are read");
  assert.equal(normalizeDate("2024-03-15"), null);
  assert.equal(normalizeTime("1015"), "101500.000000");
  assert.equal(normalizeTime("1015", true), "101559.999999");
  assert.equal(normalizeTime("10:15:30"), "101530.000000");
  assert.equal(normalizeTime("101530.5", true), "101530.599999");
  assert.equal(normalizeTime("25x"), null);
  assert.equal(normalizeDateTime("2024", true), "20241231235959.999999");
  assert.equal(normalizeDateTime("20240315100000+0100"), "20240315090000.000000");
});

Deno.test("termsFor() reads universal, single, list, wildcard and range values", () => {
  assert.deepEqual(termsFor("LO", "", true), []);
  assert.deepEqual(termsFor("LO", "*", true), []);
  assert.deepEqual(termsFor("DA", "-", true), []);
  assert.deepEqual(termsFor("UI", "1.2\\1.3\0", true), [
    { type: "exact", value: "1.2" },
    { type: "exact", value: "1.3" },
  ]);
  assert.deepEqual(termsFor("DA", "20240101-", true), [
    { type: "range", lower: "20240101", upper: "" },
  ]);
  assert.deepEqual(termsFor("DA", "-20240131", true), [
    { type: "range", lower: "", upper: "20240131" },
  ]);
  assert.equal(termsFor("SH", "A?1*", true)[0].type, "wildcard");
  assert.equal(termsFor("UI", "1.2*", true)[0].type, "exact", "no wildcards in UIDs");
  assert.throws(() => termsFor("DA", "2024*", true), MatchValueError, "no wildcards in dates");
});

Deno.test("termsFor() refuses malformed dates, times and ranges", () => {
  assert.throws(() => termsFor("DA", "2024-01-01", true), MatchValueError);
  assert.throws(() => termsFor("TM", "noon", true), MatchValueError);
  assert.throws(() => termsFor("DA", "20240101-2024", true), MatchValueError);
});

Deno.test("single value matching is exact and case-sensitive outside PN", () => {
  assert.ok(hit("CS", "CT", "CT"));
  assert.ok(!hit("CS", "ct", "CT"));
  assert.ok(hit("LO", "PID1", "PID1"));
  assert.ok(!hit("LO", "PID1", "PID10"));
  assert.ok(hit("IS", "1", "01"), "integer strings compare as numbers");
  assert.ok(hit("DA", "20240315", "2024.03.15"));
  assert.ok(!hit("LO", "PID1", ""), "an empty stored value matches only universal keys");
});

Deno.test("wildcard matching: '*' any run, '?' one character, on every text VR", () => {
  assert.ok(hit("SH", "A?C*", "ABCDEF"));
  assert.ok(!hit("SH", "A?C*", "ACDEF"));
  assert.ok(hit("LO", "*HEAD*", "CT HEAD W/O"));
  assert.ok(hit("LO", "ü?", "üx"), "'?' is one character, not one byte");
  assert.ok(hit("CS", "C?", "CT"));
});

Deno.test("list matching: any query value against any stored value", () => {
  assert.ok(hit("UI", "1.2\\1.3", "1.3"));
  assert.ok(!hit("UI", "1.2\\1.3", "1.4"));
  assert.ok(hit("CS", "MR", "CT\\MR"), "Modalities in Study holds several values");
  assert.ok(hit("CS", "US\\MR", "CT\\MR"));
  assert.ok(!hit("CS", "US\\PT", "CT\\MR"));
});

Deno.test("range matching on DA and TM, open-ended both ways", () => {
  assert.ok(hit("DA", "20240101-20240131", "20240131"));
  assert.ok(!hit("DA", "20240101-20240131", "20240201"));
  assert.ok(hit("DA", "20240101-", "20991231"));
  assert.ok(hit("DA", "-20240101", "19000101"));
  assert.ok(!hit("DA", "-20240101", "20240102"));
  assert.ok(!hit("DA", "20240101-", ""), "no date, no match");
  assert.ok(hit("TM", "1000-1100", "1015"));
  assert.ok(hit("TM", "1000-1015", "101530"), "an end of 1015 covers the whole minute");
  assert.ok(!hit("TM", "1000-1015", "101600"));
  assert.ok(hit("TM", "1015", "101530.25"), "a single time covers its precision");
  assert.ok(hit("DT", "20240101-20240102", "20240102235959"));
  assert.ok(!hit("DT", "20240101-20240102", "20240103"));
});

Deno.test("combined date-time matching reads a date and a time range as one span", () => {
  const term = combinedRange("20240110-20240120", "0900-1800")!;
  assert.deepEqual(term, {
    type: "range",
    lower: "20240110090000.000000",
    upper: "20240120180059.999999",
  });
  const m: Match = { tag: 0x00080020, vr: "DA", field: "d", terms: [term], time: { tag: 0 } };
  assert.ok(matchesDateTime(m, "20240115", "030000"), "03:00 on a day in between");
  assert.ok(!matchesDateTime(m, "20240110", "080000"), "before 09:00 on the first day");
  assert.ok(!matchesDateTime(m, "20240120", "190000"), "after 18:00 on the last day");
  assert.equal(combinedRange("20240110-", "0900-1800"), null, "not the same form");
});

Deno.test("rowMatches() needs every key to match", () => {
  const matches = [key("CS", "CT", "modality"), key("DA", "20240101-", "date")];
  assert.ok(rowMatches(matches, { modality: "CT", date: "20240101" }));
  assert.ok(!rowMatches(matches, { modality: "MR", date: "20240101" }));
  assert.ok(!rowMatches(matches, { modality: "CT", date: "" }));
});

Deno.test("elementsMatch() matches stored headers: text, numbers and one-item sequences", () => {
  const us = (tag: number, n: number): DataElement => ({
    tag,
    vr: "US",
    value: new Uint8Array([n & 0xff, n >> 8]),
  });
  const lo = (tag: number, text: string) => textElement(tag, "LO", text, "ISO_IR 100")!;
  const stored: DataElement[] = [
    lo(0x00081030, "Knie rechts Müller"),
    us(0x00280010, 512),
    {
      tag: 0x00400275,
      vr: "SQ",
      value: new Uint8Array(0),
      items: [[lo(0x00401001, "RP1")], [lo(0x00401001, "RP2")]],
    },
  ];
  const rows: Match = { tag: 0x00280010, vr: "US", terms: [{ type: "number", value: 512 }] };
  const seq = (value: string): Match => ({
    tag: 0x00400275,
    vr: "SQ",
    terms: [],
    item: [{ tag: 0x00401001, vr: "LO", terms: termsFor("LO", value, true) }],
  });
  assert.ok(elementsMatch([rows], stored, "ISO_IR 100"));
  assert.ok(elementsMatch([seq("RP2")], stored, "ISO_IR 100"), "any item may match");
  assert.ok(!elementsMatch([seq("RP3")], stored, "ISO_IR 100"));
  assert.ok(elementsMatch([key("LO", "*Müller")], [{ ...stored[0], tag: 0 }], "ISO_IR 100"));
  assert.ok(!elementsMatch([{ ...rows, tag: 0x00280011 }], stored, ""), "absent: no match");
});
