import assert from "node:assert/strict";
import {
  isConformantUid,
  isPlainUid,
  trimUid,
  uidPathComponent,
} from "../../../src/core/dicom/uid.ts";

Deno.test("trimUid() strips trailing NULs and spaces and leading spaces", () => {
  assert.equal(trimUid("1.2.3\0"), "1.2.3");
  assert.equal(trimUid("1.2.3 \0 "), "1.2.3");
  assert.equal(trimUid("  1.2.3"), "1.2.3");
  assert.equal(trimUid("\0"), "");
  assert.equal(trimUid("1.2.3"), "1.2.3");
});

Deno.test("isPlainUid() accepts digits and dots up to 64 characters, leading zeros included", () => {
  assert.equal(isPlainUid("1.2.840.10008.5.1.4.1.1.2"), true);
  assert.equal(isPlainUid("0"), true);
  assert.equal(isPlainUid("1.2.840.0123.7"), true); // leading zero sent by real modalities
  assert.equal(isPlainUid("1." + "2".repeat(62)), true); // 64 characters
});

Deno.test("isPlainUid() rejects empty components, other characters and over-long UIDs", () => {
  for (
    const uid of [
      "",
      ".",
      "1..2",
      ".1.2",
      "1.2.",
      "1.2.3\0",
      "1.2.3 ",
      "1.2.a",
      "../etc",
      "1/2",
      "1." + "2".repeat(63), // 65 characters
      "١.٢", // Arabic-Indic digits
    ]
  ) {
    assert.equal(isPlainUid(uid), false, JSON.stringify(uid));
  }
});

Deno.test("isConformantUid() rejects a multi-digit component with a leading zero", () => {
  assert.equal(isConformantUid("1.2.840.10008.1.2.1"), true);
  assert.equal(isConformantUid("1.0.2"), true);
  assert.equal(isConformantUid("1.02.3"), false);
  assert.equal(isConformantUid("01.2"), false);
  assert.equal(isConformantUid("1.2.00"), false);
  assert.equal(isConformantUid("1..2"), false);
  assert.equal(isConformantUid("1." + "2".repeat(63)), false);
});

Deno.test("uidPathComponent() keeps a plain UID as the name", async () => {
  assert.equal(await uidPathComponent("1.2.840.10008.5.1.4.1.1.2"), "1.2.840.10008.5.1.4.1.1.2");
  assert.equal(await uidPathComponent("1.2.0003"), "1.2.0003");
});

Deno.test("uidPathComponent() hashes any UID that could escape the storage tree", async () => {
  for (const uid of ["../../etc/passwd", "..", "a\\b", "1.2/3", "", "1..2", "x".repeat(100)]) {
    const name = await uidPathComponent(uid);
    assert.match(name, /^h[0-9a-f]{64}$/, uid);
    assert.ok(!name.includes("/") && !name.includes("\\") && !name.includes(".."));
  }
  assert.notEqual(await uidPathComponent("1.2/3"), await uidPathComponent("1.2/4"));
  assert.equal(await uidPathComponent("1.2/3"), await uidPathComponent("1.2/3"));
});

Deno.test("uidPathComponent() uses the SHA-256 of the UID's UTF-8 bytes", async () => {
  // SHA-256("abc") from FIPS 180-2 appendix B.1.
  assert.equal(
    await uidPathComponent("abc"),
    "hba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});
