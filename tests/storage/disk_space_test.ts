import assert from "node:assert/strict";
import { statfs } from "node:fs/promises";
import { diskFreeBytes, isNoSpace } from "../../src/storage/disk_space.ts";
import { withTempDir } from "./fixtures.ts";

Deno.test("diskFreeBytes() gives the space an unprivileged user may fill", async () => {
  await withTempDir(async (dir) => {
    const s = await statfs(dir);
    const free = await diskFreeBytes(dir);
    assert.ok(free > 0);
    assert.ok(
      Math.abs(free - Number(s.bavail) * Number(s.bsize)) < 1024 * 1024 * 1024,
      `${free} bytes`,
    );
    await assert.rejects(diskFreeBytes(`${dir}/missing/folder`));
  });
});

Deno.test("isNoSpace() tells a full disk or quota from other errors", () => {
  const coded = (code: string) => Object.assign(new Error("write failed"), { code });
  assert.ok(isNoSpace(coded("ENOSPC")));
  assert.ok(isNoSpace(coded("EDQUOT")));
  assert.ok(isNoSpace(new Error("No space left on device (os error 28)")));
  assert.ok(isNoSpace(new Error("database or disk is full")));
  assert.ok(!isNoSpace(coded("EACCES")));
  assert.ok(!isNoSpace(new Error("os error 2")));
  assert.ok(!isNoSpace("ENOSPC"), "only errors count");
});
