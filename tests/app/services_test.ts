// The services a configuration offers: C-ECHO, C-STORE for the configured storage classes,
// C-FIND, C-MOVE and C-GET, each negotiating its own abstract syntaxes.
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config.ts";
import { buildServices } from "../../src/app/services.ts";
import { MemoryLogger, openStore, withTempDir } from "../storage/fixtures.ts";

const VERIFICATION = "1.2.840.10008.1.1";
const CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2";
const MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4";
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2";
const STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3";

const syntaxesOf = (services: ReturnType<typeof buildServices>) =>
  new Set(services.flatMap((s) => [...s.syntaxes()].map((x) => x.abstractSyntax)));

Deno.test("buildServices() offers echo, store, find, move and get", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const config = parseConfig(`[storage]\npath = "${root}"\n`, "test.toml");
      const services = buildServices({ config, logger: new MemoryLogger(), store });
      const offered = syntaxesOf(services);
      for (const uid of [VERIFICATION, CT_IMAGE, MR_IMAGE, STUDY_ROOT_FIND, STUDY_ROOT_MOVE]) {
        assert.ok(offered.has(uid), uid);
      }
      assert.ok(offered.has(STUDY_ROOT_GET));
    } finally {
      await store.close();
    }
  });
});

Deno.test("buildServices() offers only the configured storage SOP classes", async () => {
  await withTempDir(async (root) => {
    const store = await openStore(root);
    try {
      const config = parseConfig(
        `[storage]\npath = "${root}"\nsop_classes = ["${CT_IMAGE}"]\n`,
        "test.toml",
      );
      const offered = syntaxesOf(buildServices({ config, logger: new MemoryLogger(), store }));
      assert.ok(offered.has(CT_IMAGE));
      assert.ok(!offered.has(MR_IMAGE));
      assert.ok(offered.has(VERIFICATION));
    } finally {
      await store.close();
    }
  });
});
