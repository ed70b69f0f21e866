// GET /metrics parses as strict Prometheus text, and its counters move when the running
// server answers a C-ECHO and a C-STORE.
import assert from "node:assert/strict";
import { CommandField, DATASET_PRESENT } from "../../src/core/dimse/command.ts";
import { ServerStats } from "../../src/app/stats.ts";
import { renderMetrics } from "../../src/web/metrics.ts";
import { echo, EXPLICIT_LE, openAssociation, VERIFICATION } from "../helpers/scu.ts";
import { startMiniPacs } from "../helpers/server.ts";
import { CT_IMAGE, datasetFor, makeRecord } from "../storage/fixtures.ts";
import { parseExposition, seriesKey } from "./prometheus.ts";

Deno.test("the strict parser refuses what a scraper would trip on", () => {
  const ok = "# TYPE a_total counter\na_total 1\n";
  assert.equal(parseExposition(ok).samples.get("a_total"), 1);
  const bad = [
    "# TYPE a_total counter\na_total 1", // no final newline
    "a_total 1\n", // no TYPE
    "# TYPE a counter\na 1\n", // counter without _total
    "# TYPE a_total counter\na_total -1\n",
    '# TYPE g gauge\ng{x="1} 2\n', // unterminated label
    '# TYPE g gauge\ng{x="\\q"} 2\n', // bad escape
    "# TYPE g gauge\ng 1\ng 2\n", // duplicate series
    "# TYPE g gauge\ng  1\n",
    "# TYPE g gauge\ng one\n",
    '# TYPE g gauge\n# TYPE h gauge\ng 1\nh 1\ng{a="b"} 1\n', // family split
    "# TYPE h histogram\n" + 'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    "# TYPE h histogram\n" + 'h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
  ];
  for (const text of bad) assert.throws(() => parseExposition(text), Error, text);
});

Deno.test("renderMetrics() output parses, with every family typed and histograms complete", () => {
  const stats = new ServerStats();
  stats.association("1", "x").rejected!(
    { id: "1", callingAeTitle: 'A"B\\C', calledAeTitle: "M", remote: "x" },
    "other",
    "odd",
  );
  stats.stored({ status: 0, bytes: 10, ms: 4, sopClassUid: "1.2" });
  const text = renderMetrics({
    stats,
    totals: { patients: 1, studies: 2, series: 3, instances: 4, bytes: 5, storedBytes: 5 },
    indexFileBytes: 4096,
    freeBytes: 1e9,
    minFreeBytes: 1024,
    pendingObjects: 0,
  });
  const { types, samples } = parseExposition(text);
  assert.equal(types.get("minipacs_store_duration_seconds"), "histogram");
  assert.equal(types.get("minipacs_associations_open"), "gauge");
  assert.equal(
    samples.get(seriesKey("minipacs_associations_rejected_total", { reason: "other" })),
    1,
  );
  assert.equal(samples.get(seriesKey("minipacs_index_entities", { level: "instance" })), 4);
  assert.equal(samples.get("minipacs_store_duration_seconds_count"), 1);
  assert.equal(
    samples.get(seriesKey("minipacs_store_duration_seconds_bucket", { le: "0.005" })),
    1,
  );
  assert.equal(samples.get("minipacs_disk_free_bytes"), 1e9);
});

Deno.test("the counters of the running server move after a C-ECHO and a C-STORE", async () => {
  const pacs = await startMiniPacs({ http: { enabled: true, port: 0 } });
  try {
    assert.ok(pacs.httpPort, "the status page is on");
    const scrape = async () => {
      const r = await fetch(`http://127.0.0.1:${pacs.httpPort}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      return parseExposition(await r.text()).samples;
    };
    const before = await scrape();
    const echoes = seriesKey("minipacs_dimse_operations_total", {
      service: "echo",
      status: "0x0000",
    });
    const stores = seriesKey("minipacs_dimse_operations_total", {
      service: "store",
      status: "0x0000",
    });
    const instances = seriesKey("minipacs_index_entities", { level: "instance" });
    assert.equal(before.get(echoes) ?? 0, 0);
    assert.equal(before.get(instances), 0);

    const assoc = await openAssociation(pacs.port, {
      contexts: [
        { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_LE] },
        { id: 3, abstractSyntax: CT_IMAGE, transferSyntaxes: [EXPLICIT_LE] },
      ],
    });
    const record = makeRecord("1.2.826.0.1.3680043.9.7433.3.1", {
      transferSyntaxUid: EXPLICIT_LE,
    });
    const dataset = datasetFor(record, 20_000);
    try {
      assert.equal(await echo(assoc), 0);
      const rsp = await assoc.request(3, {
        commandField: CommandField.CStoreRq,
        commandDataSetType: DATASET_PRESENT,
        affectedSopClassUid: CT_IMAGE,
        affectedSopInstanceUid: record.sopInstanceUid,
        priority: 0,
      }, dataset);
      assert.equal(rsp.command.status, 0);
      const during = await scrape();
      assert.equal(during.get("minipacs_associations_open"), 1);
    } finally {
      await assoc.release();
    }
    let after = await scrape();
    // The index totals are read again at most once a second after a store.
    for (let i = 0; i < 30 && after.get(instances) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await scrape();
    }
    assert.equal(after.get(echoes), 1);
    assert.equal(after.get(stores), 1);
    assert.equal(after.get(instances), 1);
    assert.equal(after.get("minipacs_associations_open"), 0);
    const accepted = "minipacs_associations_accepted_total";
    assert.equal(after.get(accepted)! - before.get(accepted)!, 1);
    const received = "minipacs_received_bytes_total";
    assert.ok(after.get(received)! - before.get(received)! > dataset.length);
    assert.ok(after.get("minipacs_sent_bytes_total")! > before.get("minipacs_sent_bytes_total")!);
    assert.equal(after.get("minipacs_store_duration_seconds_count"), 1);
    assert.ok(after.get("minipacs_stored_bytes")! >= dataset.length);
    assert.ok(after.get("minipacs_disk_free_bytes")! > 0);
    // The process's memory: resident, and the JavaScript heap within it.
    const rss = after.get("minipacs_resident_memory_bytes")!;
    const heapTotal = after.get(seriesKey("minipacs_js_heap_bytes", { kind: "total" }))!;
    const heapUsed = after.get(seriesKey("minipacs_js_heap_bytes", { kind: "used" }))!;
    assert.ok(rss > 10 * 1024 * 1024, `rss ${rss}`);
    assert.ok(heapUsed > 0 && heapUsed <= heapTotal && heapTotal < rss, `${heapUsed} ${heapTotal}`);
    assert.ok(after.get("minipacs_js_external_bytes")! > 0);
  } finally {
    await pacs.cleanup();
  }
});
