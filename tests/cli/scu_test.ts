// The SCU commands' targets: AET@host:port, and AE titles as PS3.5 6.2 allows them.
import assert from "node:assert/strict";
import { checkAeTitle, parsePeer } from "../../src/cli/scu.ts";
import { UsageError } from "../../src/cli/subcommand.ts";

Deno.test("parsePeer() reads AET@host:port, IPv6 in brackets", () => {
  assert.deepEqual(parsePeer("PACS@10.1.2.3:104"), {
    aeTitle: "PACS",
    host: "10.1.2.3",
    port: 104,
  });
  assert.deepEqual(parsePeer("MY AE@[::1]:11112"), { aeTitle: "MY AE", host: "::1", port: 11112 });
  assert.deepEqual(parsePeer("X@pacs.example:4242"), {
    aeTitle: "X",
    host: "pacs.example",
    port: 4242,
  });
  assert.throws(() => parsePeer("PACS@::1:104"), /expected AET@host:port/);
});

Deno.test("checkAeTitle() trims a good title and refuses empty, long or backslashed ones", () => {
  assert.equal(checkAeTitle(" SCU ", "--aet"), "SCU");
  for (const bad of ["", "   ", "A_TITLE_OF_17_CHR", "A\\B", "CAF\u00c9"]) {
    assert.throws(() => checkAeTitle(bad, "--aet"), UsageError, JSON.stringify(bad));
  }
  assert.throws(() => checkAeTitle("", "--aet"), /--aet must be 1 to 16 printable ASCII/);
});
