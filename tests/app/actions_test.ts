// The server's actions behind the page, the API and the command line: a send waits for a free
// association under the destination's max_associations, counted together with C-MOVE's
// sub-associations; sends and deletes leave PS3.15 A.5 audit records.
import assert from "node:assert/strict";
import { buildActions } from "../../src/app/actions.ts";
import { ServerStats } from "../../src/app/stats.ts";
import { parseConfig } from "../../src/config.ts";
import type { AuditRecord } from "../../src/core/audit.ts";
import { DestinationSlots } from "../../src/core/services/move.ts";
import {
  datasetFor,
  makeRecord,
  MemoryLogger,
  openStore,
  storeObject,
  withTempDir,
} from "../storage/fixtures.ts";

Deno.test("a send waits for a slot a C-MOVE holds; sends and deletes are audited", async () => {
  await withTempDir(async (dir) => {
    const store = await openStore(dir);
    try {
      const record = makeRecord("1.2.3.1.1.1");
      await storeObject(store, record, datasetFor(record));
      // Nothing listens on port 1: the send fails at once when it gets its turn.
      const config = parseConfig(
        `[storage]\npath = "${dir}"\n[[known_ae]]\nae_title = "DEST"\nhost = "127.0.0.1"\n` +
          `port = 1\nmax_associations = 1\n`,
        "test.toml",
      );
      const records: AuditRecord[] = [];
      const slots = new DestinationSlots();
      const logger = new MemoryLogger();
      const actions = buildActions({
        store,
        config: () => config,
        logger,
        stats: new ServerStats(),
        audit: { record: (r) => records.push(r) },
        destinationSlots: slots,
      });
      // A C-MOVE to DEST holds its one association.
      const moveRelease = await slots.acquire("DEST", 1, new AbortController().signal);
      let finished = false;
      const sending = actions.send("study", "1.2.3.1", config.knownAe[0], {
        user: "admin",
        from: "127.0.0.1:5000",
      }).then((r) => (finished = true, r));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(finished, false, "the send waits while the move holds the association");
      assert.equal(slots.busy("DEST"), 1);
      moveRelease!();
      const result = await sending;
      assert.deepEqual([result.total, result.failed], [1, 1]);
      assert.equal(slots.busy("DEST"), 0, "the send gave its association back");

      const deleted = await actions.delete("series", "1.2.3.1.1", { user: "admin" });
      assert.equal(deleted.instances, 1);
      assert.deepEqual(
        records.map((r) => [r.EventID, r.EventActionCode, r.EventOutcomeIndicator]),
        [
          ["DICOM Instances Transferred", "R", 8],
          ["DICOM Study Deleted", "D", 0],
        ],
      );
      assert.deepEqual(
        {
          user: records[0].UserID,
          from: records[0].NetworkAccessPointID,
          to: records[0].DestinationUserID,
          patient: records[0].PatientID,
          study: records[0].StudyInstanceUID,
          failed: records[0].NumberOfFailed,
        },
        {
          user: "admin",
          from: "127.0.0.1:5000",
          to: "DEST",
          patient: "PID1",
          study: "1.2.3.1",
          failed: 1,
        },
      );
      assert.deepEqual(
        {
          patient: records[1].PatientID,
          study: records[1].StudyInstanceUID,
          series: records[1].SeriesInstanceUID,
          n: records[1].NumberOfInstances,
        },
        { patient: "PID1", study: "1.2.3.1", series: "1.2.3.1.1", n: 1 },
      );
    } finally {
      await store.close();
    }
  });
});
