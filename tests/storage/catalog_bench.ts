// `deno bench --allow-all tests/storage/catalog_bench.ts`: one page of the Studies search on
// 100,000 instances (10,000 studies), for the searches a sysadmin types.
import { Catalog, type StudySearch } from "../../src/storage/catalog.ts";
import { buildBigIndex } from "./big_index.ts";

const dir = await Deno.makeTempDir({ prefix: "minipacs-bench-" });
const index = buildBigIndex(dir);
const catalog = new Catalog(index);
const deep = (() => {
  let page = catalog.searchStudies({});
  for (let i = 0; i < 100 && page.next; i++) page = catalog.searchStudies({ after: page.next });
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
    catalog.searchStudies(search);
  });
}
Deno.bench("dashboard totals (uncached)", () => {
  new Catalog(index).totals();
});

globalThis.addEventListener("unload", () => {
  catalog.close();
  index.close();
  Deno.removeSync(dir, { recursive: true });
});
