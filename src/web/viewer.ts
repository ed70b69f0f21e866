// The OHIF viewer (the `dist/` of the npm package @ohif/app), served from `[viewer] ohif_path`
// at /viewer/ with an app-config pointing at our own DICOMweb root. The build expects to live
// at "/": its page, its webpack public path and its router are moved under /viewer/ as they
// are served. Files are read from the folder on each request; nothing is bundled.
import { Hono } from "hono";
import type { Config } from "../config.ts";
import { isNotFound } from "../storage/layout.ts";

/** Where the viewer is served. */
export const VIEWER_PATH = "/viewer";

/** The viewer page of a study (OHIF's basic viewer mode). */
export function viewerUrl(studyInstanceUid: string): string {
  return `${VIEWER_PATH}/viewer?StudyInstanceUIDs=${encodeURIComponent(studyInstanceUid)}`;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  map: "application/json",
  txt: "text/plain; charset=utf-8",
  xml: "application/xml",
  onnx: "application/octet-stream",
};

/** Text files whose "/"-rooted references move under /viewer/ as they are served. */
const MOVES: Record<string, (text: string) => string> = {
  // Webpack loads chunks, workers and WebAssembly from its public path.
  js: (t) =>
    t.replaceAll('__webpack_require__.p = "/";', `__webpack_require__.p = "${VIEWER_PATH}/";`),
  mjs: (t) =>
    t.replaceAll('__webpack_require__.p = "/";', `__webpack_require__.p = "${VIEWER_PATH}/";`),
  css: (t) => t.replaceAll("url(/", `url(${VIEWER_PATH}/`),
  json: (t) => t.replaceAll('"/assets/', `"${VIEWER_PATH}/assets/`),
};

/** What a viewer page may load: its own scripts, workers and WebAssembly; nothing else. */
export const VIEWER_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' " +
  "'wasm-unsafe-eval' blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' data: blob:; " +
  "frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/** OHIF's configuration: one DICOMweb data source, ours (PS3.18 root of `[dicomweb] path`). */
export function appConfig(dicomWebPath: string): string {
  const root = `window.location.origin + ${JSON.stringify(dicomWebPath)}`;
  return `// Written by MiniPACS for its own DICOMweb service.
window.config = {
  routerBasename: ${JSON.stringify(VIEWER_PATH)},
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: "never" },
  defaultDataSourceName: "minipacs",
  dataSources: [{
    namespace: "@ohif/extension-default.dataSourcesModule.dicomweb",
    sourceName: "minipacs",
    configuration: {
      friendlyName: "MiniPACS",
      name: "minipacs",
      qidoRoot: ${root},
      wadoRoot: ${root},
      wadoUriRoot: ${root},
      qidoSupportsIncludeField: true,
      supportsReject: false,
      imageRendering: "wadors",
      thumbnailRendering: "wadors",
      enableStudyLazyLoad: true,
      supportsFuzzyMatching: true,
      supportsWildcard: true,
      staticWado: false,
      singlepart: "bulkdata,video",
      bulkDataURI: { enabled: true },
      omitQuotationForMultipartRequest: true,
    },
  }],
};
`;
}

/** Serves the viewer from `folder` (the unpacked package's dist/). */
export function createViewer(config: () => Config): Hono {
  const app = new Hono();
  const folder = () => config().viewer.ohifPath.replace(/\/+$/, "");
  const rewriteIndex = (text: string) =>
    text
      .replaceAll('window.PUBLIC_URL="/"', `window.PUBLIC_URL="${VIEWER_PATH}/"`)
      .replaceAll('href="/', `href="${VIEWER_PATH}/`)
      .replaceAll('src="/', `src="${VIEWER_PATH}/`);
  const index = async () => {
    const text = await Deno.readTextFile(`${folder()}/index.html`);
    return new Response(rewriteIndex(text), {
      headers: { "Content-Type": TYPES.html, "Cache-Control": "no-cache" },
    });
  };
  app.get("/app-config.js", (c) =>
    c.body(appConfig(config().dicomweb.path), 200, {
      "Content-Type": TYPES.js,
      "Cache-Control": "no-cache",
    }));
  // A service worker at our origin would outlive the viewer: not installed.
  app.get("/init-service-worker.js", (c) => c.body("", 200, { "Content-Type": TYPES.js }));
  app.get("/sw.js", (c) => c.body("", 404));
  app.get("/*", async (c) => {
    const rel = decodeURIComponent(c.req.path.slice(VIEWER_PATH.length)).replace(/^\/+/, "");
    if (rel === "" || rel.split("/").some((p) => p === ".." || p === ".")) return await index();
    const ext = /\.([A-Za-z0-9]+)$/.exec(rel)?.[1]?.toLowerCase();
    if (!ext || !(ext in TYPES) || ext === "html") return await index(); // the app's routes
    const path = `${folder()}/${rel}`;
    try {
      const move = MOVES[ext];
      if (move) {
        const text = await Deno.readTextFile(path);
        return c.body(move(text), 200, {
          "Content-Type": TYPES[ext],
          "Cache-Control": "max-age=3600",
        });
      }
      const file = await Deno.open(path, { read: true });
      const size = (await file.stat()).size;
      return new Response(file.readable, {
        headers: {
          "Content-Type": TYPES[ext],
          "Content-Length": String(size),
          "Cache-Control": "max-age=3600",
        },
      });
    } catch (e) {
      if (isNotFound(e) || e instanceof Deno.errors.IsADirectory) {
        return c.text("not found\n", 404);
      }
      throw e;
    }
  });
  return app;
}
