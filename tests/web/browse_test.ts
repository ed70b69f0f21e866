// The study page's action bar: Download for everyone, Send and Delete for admins, and "Open in
// viewer" when the OHIF viewer is served.
import assert from "node:assert/strict";
import type { WebActions } from "../../src/web/actions.ts";
import { webFixture } from "./fixtures.ts";

/** Actions that list no instances and do nothing: the page still shows its bar. */
const noActions: WebActions = {
  instances: () => [],
  readObject: () => Promise.resolve(null),
  delete: (level, uid) => Promise.resolve({ level, uid, instances: 0, bytes: 0, studies: [] }),
  send: () =>
    Promise.resolve({ total: 0, completed: 0, failed: 0, warning: 0, failedSopInstanceUids: [] }),
};

Deno.test("the study page offers Open in viewer only when the viewer is served", async () => {
  const dist = await Deno.makeTempDir({ prefix: "minipacs-ohif-" });
  try {
    const plain = await webFixture({ deps: { actions: noActions } });
    try {
      plain.add("7.1.1", { studyInstanceUid: "7.1" });
      const page = await (await plain.get("/studies/7.1")).text();
      assert.match(page, /id="download" href="\/api\/studies\/7\.1\/archive"/);
      assert.match(page, /id="delete"/); // no users: the local admin
      assert.doesNotMatch(page, /open-viewer/);
    } finally {
      await plain.close();
    }
    const withViewer = await webFixture({
      toml: `[viewer]\nohif_path = ${JSON.stringify(dist)}\n`,
      deps: { actions: noActions },
    });
    try {
      withViewer.add("7.2.1", { studyInstanceUid: "7.2" });
      const page = await (await withViewer.get("/studies/7.2")).text();
      assert.match(page, /id="open-viewer" href="\/viewer\/viewer\?StudyInstanceUIDs=7\.2"/);
    } finally {
      await withViewer.close();
    }
  } finally {
    await Deno.remove(dist, { recursive: true });
  }
});
