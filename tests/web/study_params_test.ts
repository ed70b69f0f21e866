// The Studies form and /api/studies read the same query parameters into one search.
import assert from "node:assert/strict";
import { SearchError } from "../../src/storage/catalog.ts";
import { searchFromParams } from "../../src/web/study_params.ts";

Deno.test("searchFromParams() reads the form's names and drops empty fields", () => {
  const s = searchFromParams(
    new URLSearchParams("name=Doe&patient_id=ID1&from=2024-01-01&to=&modality=CT&limit=20"),
  );
  assert.deepEqual(s, {
    name: "Doe",
    patientId: "ID1",
    from: "2024-01-01",
    to: undefined,
    modality: "CT",
    accession: undefined,
    after: undefined,
    before: undefined,
    limit: 20,
  });
});

Deno.test("searchFromParams() refuses a limit that is not a number", () => {
  assert.throws(() => searchFromParams(new URLSearchParams("limit=ten")), SearchError);
  assert.throws(() => searchFromParams(new URLSearchParams("limit=-1")), SearchError);
});
