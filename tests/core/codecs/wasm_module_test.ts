import assert from "node:assert/strict";
import { decodeBase64 } from "../../../src/core/codecs/wasm_module.ts";
import { moduleText, packageWasm, pinnedVersion, WASM_FILES } from "../../../scripts/embed_wasm.ts";
import { ROOT } from "../../helpers/server.ts";

Deno.test("decodeBase64() reads RFC 4648 text", () => {
  assert.deepEqual(decodeBase64("AGFzbQ=="), new Uint8Array([0, 0x61, 0x73, 0x6d]));
  assert.deepEqual(decodeBase64(""), new Uint8Array(0));
});

for (const name of Object.keys(WASM_FILES)) {
  Deno.test(`the embedded ${name} WebAssembly is the one of the npm version deno.json pins`, async () => {
    const embedded = await Deno.readTextFile(`${ROOT}src/core/codecs/wasm/${name}.ts`);
    const version = await pinnedVersion(WASM_FILES[name].pkg);
    const bytes = await packageWasm(name);
    assert.equal(
      embedded,
      moduleText(name, version, bytes),
      "out of date: run deno run -A scripts/embed_wasm.ts",
    );
    const m = /"([A-Za-z0-9+/=]+)"/.exec(embedded)!;
    assert.ok(WebAssembly.validate(decodeBase64(m[1]) as Uint8Array<ArrayBuffer>));
  });
}
