// `minipacs demo`: sample studies a newcomer can store and find at once.
import assert from "node:assert/strict";
import { decodeFileMetaInformation } from "../../src/core/dicom/part10.ts";
import { type MiniPacs, startMiniPacs } from "../helpers/server.ts";
import { minipacs } from "./cli.ts";

Deno.test("demo writes four studies that store and are found by name and modality", async () => {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-demo-" });
  let pacs: MiniPacs | undefined;
  try {
    const r = await minipacs(["demo", `${dir}/demo`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote 16 images in 4 studies to .* \(CT, MR, CR, US\)$/m);
    assert.match(r.stdout, /MÜLLER\^HANS/);
    let files = 0;
    for await (const p of Deno.readDir(`${dir}/demo`)) {
      for await (const f of Deno.readDir(`${dir}/demo/${p.name}`)) {
        const bytes = await Deno.readFile(`${dir}/demo/${p.name}/${f.name}`);
        assert.equal(
          decodeFileMetaInformation(bytes).meta.transferSyntaxUid,
          "1.2.840.10008.1.2.1",
        );
        files++;
      }
    }
    assert.equal(files, 16);
    pacs = await startMiniPacs();
    const at = `MINIPACS@127.0.0.1:${pacs.port}`;
    const stored = await minipacs(["store", at, `${dir}/demo`]);
    assert.equal(stored.code, 0, stored.stderr);
    assert.match(stored.stdout + stored.stderr, /stored 16, failed 0/);
    const found = await minipacs(["find", at, "-k", "PatientName=müller*", "--json"]);
    assert.equal(found.code, 0, found.stderr);
    const rows = JSON.parse(found.stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].PatientName, "MÜLLER^HANS");
    assert.equal(rows[0].NumberOfStudyRelatedInstances, "6");
    const smith = JSON.parse(
      (await minipacs(["find", at, "-k", "PatientID=DEMO003", "--json"])).stdout,
    );
    assert.equal(smith[0].ModalitiesInStudy, "CR\\US");
  } finally {
    await pacs?.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});
