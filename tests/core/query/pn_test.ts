import assert from "node:assert/strict";
import { compilePn, matchPn, pnSearchForms, wildcardRegExp } from "../../../src/core/query/pn.ts";

const JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう";

function matches(query: string, stored: string, caseInsensitive = true): boolean {
  const p = compilePn(query, caseInsensitive);
  assert.ok(p, `${query} is not universal`);
  return matchPn(p, stored);
}

Deno.test("pnSearchForms() keeps the alphabetic group and the others apart, in upper case", () => {
  assert.deepEqual(pnSearchForms("Doe^John^^^"), { norm: "DOE^JOHN", alt: "" });
  assert.deepEqual(pnSearchForms(JAPANESE), {
    norm: "YAMADA^TAROU",
    alt: "山田^太郎=やまだ^たろう",
  });
  assert.deepEqual(pnSearchForms("Mu\u0308ller"), { norm: "MÜLLER", alt: "" });
  assert.deepEqual(pnSearchForms(""), { norm: "", alt: "" });
});

Deno.test("matchPn() matches the whole name as the standard's literal and wildcard rules say", () => {
  assert.ok(matches("Doe^John", "Doe^John"));
  assert.ok(matches("*JOHN*", "Doe^John"));
  assert.ok(matches("D?E^J*", "Doe^John"));
  assert.ok(!matches("Doe^Jane", "Doe^John"));
});

Deno.test("matchPn() matches component by component; open components match anything", () => {
  assert.ok(matches("Doe", "Doe^John"), "a family name finds the patient");
  assert.ok(matches("Doe^John", "Doe^John^Q"), "a missing middle name is open");
  assert.ok(matches("^John", "Doe^John"), "an empty family name is open");
  assert.ok(!matches("^John", "John^Doe"));
  assert.ok(matches("Doe^J*", "Doe^Jane^Q"));
  assert.ok(!matches("Doe^J*^X", "Doe^John^Y"), "a wildcard stays inside its component");
  assert.ok(matches("Doe^^Q", "Doe^Jane^Q"));
  assert.ok(!matches("Do", "Doe^John"));
});

Deno.test("matchPn() ignores case only when asked, after Unicode normalization", () => {
  assert.ok(matches("doe^john", "DOE^JOHN"));
  assert.ok(matches("müller*", "MÜLLER^Jürgen"));
  assert.ok(matches("Mu\u0308ller", "Müller"));
  assert.ok(!matches("doe^john", "DOE^JOHN", false));
  assert.ok(matches("Doe^John", "Doe^John", false));
});

Deno.test("matchPn() looks for a one-group query in every group; groups match group by group", () => {
  assert.ok(matches("山田*", JAPANESE));
  assert.ok(matches("やまだ^たろう", JAPANESE));
  assert.ok(matches("yamada^tarou=山田^太郎", JAPANESE));
  assert.ok(matches("=山田", JAPANESE), "an empty alphabetic group is open");
  assert.ok(!matches("=やまだ", JAPANESE), "the ideographic group is not the phonetic one");
});

Deno.test("compilePn() treats an all-open query as universal matching", () => {
  assert.equal(compilePn("*", true), null);
  assert.equal(compilePn("^", true), null);
  assert.equal(compilePn("*^*", true), null);
  assert.notEqual(compilePn("D*", true), null);
});

Deno.test("compilePn() gives the literal text a stored name must hold, for index pre-filters", () => {
  assert.deepEqual(compilePn("Doe^J*n", true)!.hint.first, { prefix: "DOE", pieces: ["J", "N"] });
  assert.deepEqual(compilePn("*oh*", true)!.hint.first, { prefix: "", pieces: ["OH"] });
  const multi = compilePn("=山田*", true)!;
  assert.equal(multi.hint.first, null);
  assert.deepEqual(multi.hint.other, { prefix: "", pieces: ["山田"] });
});

Deno.test("wildcardRegExp() takes every other character literally", () => {
  for (const text of ["ACC-001", "A.B(C)[D]{E}|F+G^H$I\\J/K"]) {
    assert.ok(wildcardRegExp(text).test(text), text);
    assert.ok(wildcardRegExp(`${text.slice(0, 3)}*`).test(text));
  }
  assert.ok(!wildcardRegExp("A.C").test("ABC"));
  assert.ok(wildcardRegExp("ACC-00?").test("ACC-001"));
});
