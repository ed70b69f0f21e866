// `deno bench --allow-all tests/web/studies_bench.ts`: one page of the Studies search on
// 100,000 instances (10,000 studies), for the searches a sysadmin types.
import { IndexReader } from "../../src/web/index_reader.ts";
import { searchStudies, type StudySearch } from "../../src/web/studies.ts";
import { buildBigIndex } from "./big_index.ts";

const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-" });
const index = buildBigIndex(dir);
const reader = new IndexReader(() => index.openReader());
const deep = (() => {
  let page = searchStudies(reader, {});
  for (let i = 0; i < 100 && page.next; i++) page = searchStudies(reader, { after: page.next });
  return page.next!;
})();

const cases: [string, StudySearch][] = [
  ["first page, no filter", {}],
  ["page 101, no filter", { after: deep }],
  ["name prefix (555 studies)", { name: "fam12" }],
  ["name not found", { name: "zzz" }],
  ["name anywhere (*given3*)", { name: "*given3*" }],
  ["patient ID", { patientId: "P77" }],
  ["modality", { modality: "CT" }],
  ["one month", { from: "2020-01-01", to: "2020-01-31" }],
];
for (const [name, search] of cases) {
  Deno.bench(name, { group: "studies page" }, () => {
    searchStudies(reader, search);
  });
}
Deno.bench("dashboard totals (uncached)", () => {
  new IndexReader(() => index.openReader()).totals();
});

globalThis.addEventListener("unload", () => {
  reader.close();
  index.close();
  Deno.removeSync(dir, { recursive: true });
});
