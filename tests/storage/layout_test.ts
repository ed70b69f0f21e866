// Where an object lives on disk: <study>/<series>/<sop>.dcm from plain UIDs, a hashed name
// for anything else, so that no UID can reach outside the storage folder.
import assert from "node:assert/strict";
import { homePathFor, removeIfPresent } from "../../src/storage/layout.ts";

Deno.test("homePathFor() files plain UIDs by study and series", async () => {
  const path = await homePathFor({
    studyInstanceUid: "1.2.3",
    seriesInstanceUid: "1.2.3.4",
    sopInstanceUid: "1.2.3.4.5",
  });
  assert.equal(path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm");
});

Deno.test("homePathFor() hashes a UID that is not digits and dots", async () => {
  const path = await homePathFor({
    studyInstanceUid: "../../etc",
    seriesInstanceUid: "1.2",
    sopInstanceUid: "1.2.3",
  });
  const [study, series, file] = path.split("/");
  assert.match(study, /^h[0-9a-f]{64}$/);
  assert.deepEqual([series, file], ["1.2", "1.2.3.dcm"]);
  assert.ok(!path.includes(".."));
});

Deno.test("removeIfPresent() removes a file and accepts one already gone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-layout-" });
  try {
    await Deno.writeTextFile(`${dir}/a`, "x");
    await removeIfPresent(`${dir}/a`);
    await removeIfPresent(`${dir}/a`);
    await assert.rejects(Deno.stat(`${dir}/a`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
