// How the pages show numbers, durations and DICOM values.
import assert from "node:assert/strict";
import {
  formatBytes,
  formatDa,
  formatDuration,
  formatPn,
  formatTm,
} from "../../src/web/html_layout.ts";

Deno.test("formatBytes() uses powers of 1024 with one decimal below 10", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(20 * 1024 * 1024), "20 MB");
});

Deno.test("formatDuration() shows the two largest units", () => {
  assert.equal(formatDuration(93784), "1d 2h 3m");
  assert.equal(formatDuration(3720), "1h 2m");
  assert.equal(formatDuration(61), "1m 1s");
  assert.equal(formatDuration(-5), "0s");
});

Deno.test("DA, TM and PN are shown readably, anything unexpected as it is", () => {
  assert.equal(formatDa("20240315"), "2024-03-15");
  assert.equal(formatDa("2024"), "2024");
  assert.equal(formatTm("101500.123"), "10:15:00");
  assert.equal(formatTm("10"), "10:00:00");
  assert.equal(formatPn("Doe^John^^Dr"), "Doe, Dr John");
  assert.equal(formatPn("Yamada^Tarou=山田^太郎"), "Yamada, Tarou");
});
