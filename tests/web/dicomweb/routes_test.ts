// The DICOMweb routes inside the web app: where they are mounted, the login they share with the
// pages, and CORS for the origins of [dicomweb] cors_origins.
import assert from "node:assert/strict";
import { hashPassword } from "../../../src/web/password.ts";
import { IndexDb } from "../../../src/storage/index_db.ts";
import type { ObjectSource } from "../../../src/web/dicomweb/instances.ts";
import { webFixture } from "../fixtures.ts";

const noObjects: ObjectSource = {
  readObjectRange: () => Promise.resolve(null),
  readObject: () => Promise.resolve(null),
};

/** A web app with DICOMweb over an index that is never read (routes and headers only). */
async function fixture(toml = "", http = "") {
  const root = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-routes-" });
  const f = await webFixture({
    toml,
    http,
    deps: {
      dicomweb: {
        root,
        openReader: () => {
          throw new Error("no index in this test");
        },
        objects: noObjects,
      },
    },
  });
  return {
    ...f,
    close: async () => {
      await f.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("DICOMweb answers under [dicomweb] path, and not at all when disabled", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-dicomweb-routes-" });
  const index = IndexDb.open(`${root}/index.sqlite`);
  const f = await webFixture({
    toml: `[dicomweb]\npath = "/dw"\n`,
    deps: { dicomweb: { root, openReader: () => index.openReader(), objects: noObjects } },
  });
  try {
    const r = await f.get("/dw/studies", { headers: { Accept: "application/dicom+json" } });
    assert.equal(r.status, 204, "empty index: nothing matches");
    assert.equal((await f.get("/dicom-web/studies")).status, 404);
  } finally {
    await f.close();
    index.close();
    await Deno.remove(root, { recursive: true });
  }
  const off = await fixture(`[dicomweb]\nenabled = false\n`);
  try {
    assert.equal((await off.get("/dicom-web/studies")).status, 404);
  } finally {
    await off.close();
  }
});

Deno.test("DICOMweb needs the same login as the pages; preflights do not", async () => {
  const hash = await hashPassword("secret", 1000);
  const f = await fixture(
    `[dicomweb]\ncors_origins = ["https://viewer.example"]\n`,
    `[[http.users]]\nname = "admin"\npassword_hash = "${hash}"\n`,
  );
  try {
    assert.equal((await f.get("/dicom-web/studies")).status, 401);
    const pre = await f.get("/dicom-web/studies", {
      method: "OPTIONS",
      headers: {
        Origin: "https://viewer.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, accept",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("Access-Control-Allow-Origin"), "https://viewer.example");
    assert.equal(pre.headers.get("Access-Control-Allow-Credentials"), "true");
    assert.match(pre.headers.get("Access-Control-Allow-Methods") ?? "", /POST/);
    assert.equal(pre.headers.get("Access-Control-Allow-Headers"), "authorization, accept");
    const denied = await f.get("/dicom-web/studies", {
      headers: { Origin: "https://viewer.example" },
    });
    assert.equal(denied.status, 401);
    assert.equal(
      denied.headers.get("Access-Control-Allow-Origin"),
      "https://viewer.example",
      "the browser may read the 401",
    );
  } finally {
    await f.close();
  }
});

Deno.test("CORS: listed origins with credentials, others none, '*' any without; CORP set", async () => {
  const f = await fixture(`[dicomweb]\ncors_origins = ["https://viewer.example"]\n`);
  try {
    const listed = await f.get("/dicom-web/nothing", {
      headers: { Origin: "https://viewer.example" },
    });
    assert.equal(listed.headers.get("Access-Control-Allow-Origin"), "https://viewer.example");
    assert.equal(listed.headers.get("Cross-Origin-Resource-Policy"), "cross-origin");
    const other = await f.get("/dicom-web/nothing", {
      headers: { Origin: "https://evil.example" },
    });
    assert.equal(other.headers.get("Access-Control-Allow-Origin"), null);
    const pre = await f.get("/dicom-web/studies", {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" },
    });
    assert.equal(pre.headers.get("Access-Control-Allow-Origin"), null);
    // A STOW-RS POST from the listed origin passes the same-origin check (415: not multipart);
    // from another origin it is refused as cross-site.
    const post = (origin: string) =>
      f.get("/dicom-web/studies", {
        method: "POST",
        headers: { Origin: origin, "Content-Type": "application/dicom" },
        body: new Uint8Array(4),
      });
    assert.equal((await post("https://viewer.example")).status, 415);
    assert.equal((await post("https://evil.example")).status, 403);
    assert.equal(
      (await f.get("/studies", { headers: { Origin: "https://viewer.example" } }))
        .headers.get("Access-Control-Allow-Origin"),
      null,
      "the pages are not shared",
    );
  } finally {
    await f.close();
  }
  const any = await fixture(`[dicomweb]\ncors_origins = ["*"]\n`);
  try {
    const r = await any.get("/dicom-web/nothing", { headers: { Origin: "https://a.example" } });
    assert.equal(r.headers.get("Access-Control-Allow-Origin"), "*");
    assert.equal(r.headers.get("Access-Control-Allow-Credentials"), null);
  } finally {
    await any.close();
  }
  const none = await fixture();
  try {
    const r = await none.get("/dicom-web/nothing");
    assert.equal(r.headers.get("Cross-Origin-Resource-Policy"), "same-origin");
  } finally {
    await none.close();
  }
});
