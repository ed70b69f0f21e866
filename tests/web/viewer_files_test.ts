// How /viewer/ serves an OHIF build (without a browser): the page and the webpack public path
// moved under /viewer/, our app-config, static files, nothing outside the folder, its own CSP.
import assert from "node:assert/strict";
import { webFixture } from "./fixtures.ts";

async function fakeDist(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "minipacs-fake-ohif-" });
  await Deno.writeTextFile(
    `${dir}/index.html`,
    '<html><head><script>window.PUBLIC_URL="/"</script><link href="/app.css" rel="stylesheet">' +
      '<script src="/app-config.js"></script><script defer src="/app.bundle.js"></script></head></html>',
  );
  await Deno.writeTextFile(`${dir}/app.bundle.js`, '__webpack_require__.p = "/";\nrun();\n');
  await Deno.writeTextFile(`${dir}/app.css`, "@font-face{src:url(/font.woff2)}");
  await Deno.writeFile(`${dir}/x.wasm`, new Uint8Array([0, 0x61, 0x73, 0x6d]));
  return dir;
}

Deno.test("/viewer/ serves the OHIF build moved under /viewer/ with our app-config", async () => {
  const dist = await fakeDist();
  const f = await webFixture({ toml: `[viewer]\nohif_path = ${JSON.stringify(dist)}\n` });
  try {
    const page = await f.get("/viewer/");
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /window\.PUBLIC_URL="\/viewer\/"/);
    assert.match(html, /src="\/viewer\/app\.bundle\.js"/);
    assert.match(html, /href="\/viewer\/app\.css"/);
    assert.match(page.headers.get("Content-Security-Policy") ?? "", /wasm-unsafe-eval/);
    assert.equal(page.headers.get("Cross-Origin-Embedder-Policy"), "require-corp");
    assert.equal(page.headers.get("Cross-Origin-Opener-Policy"), "same-origin");
    // The app's own routes are the same page.
    assert.match(
      await (await f.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")).text(),
      /PUBLIC_URL/,
    );
    const config = await (await f.get("/viewer/app-config.js")).text();
    assert.match(config, /routerBasename: "\/viewer"/);
    assert.match(config, /qidoRoot: window\.location\.origin \+ "\/dicom-web"/);
    const js = await f.get("/viewer/app.bundle.js");
    assert.match(js.headers.get("Content-Type") ?? "", /javascript/);
    assert.match(await js.text(), /__webpack_require__\.p = "\/viewer\/";/);
    assert.match(await (await f.get("/viewer/app.css")).text(), /url\(\/viewer\/font\.woff2\)/);
    const wasm = await f.get("/viewer/x.wasm");
    assert.equal(wasm.headers.get("Content-Type"), "application/wasm");
    assert.deepEqual(
      new Uint8Array(await wasm.arrayBuffer()),
      new Uint8Array([0, 0x61, 0x73, 0x6d]),
    );
    assert.equal((await f.get("/viewer/missing.js")).status, 404);
    const escape = await f.get("/viewer/..%2f..%2fetc%2fpasswd.js");
    assert.ok(!(await escape.text()).includes("root:"), "nothing outside the folder");
    // The status pages keep their strict policy.
    assert.match(
      (await f.get("/")).headers.get("Content-Security-Policy") ?? "",
      /default-src 'none'/,
    );
  } finally {
    await f.close();
    await Deno.remove(dist, { recursive: true });
  }
});

Deno.test("without [viewer] ohif_path there is no /viewer/ and no viewer link", async () => {
  const f = await webFixture();
  try {
    f.add("1.2.3.4.1", { studyInstanceUid: "1.2.3.4" });
    assert.equal((await f.get("/viewer/")).status, 404);
    const html = await (await f.get("/studies")).text();
    assert.ok(html.includes("1.2.3.4") && !html.includes("/viewer/viewer"), "no viewer link");
  } finally {
    await f.close();
  }
  const dist = await fakeDist();
  const g = await webFixture({ toml: `[viewer]\nohif_path = ${JSON.stringify(dist)}\n` });
  try {
    g.add("1.2.3.5.1", { studyInstanceUid: "1.2.3.5" });
    const html = await (await g.get("/studies")).text();
    assert.ok(html.includes("/viewer/viewer?StudyInstanceUIDs=1.2.3.5"), "a viewer link");
  } finally {
    await g.close();
    await Deno.remove(dist, { recursive: true });
  }
});
