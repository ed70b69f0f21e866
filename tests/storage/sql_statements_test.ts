import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqlStatements } from "../../src/storage/sql_statements.ts";

Deno.test("SqlStatements prepares each statement once and reports rowids and changes", () => {
  const db = new DatabaseSync(":memory:");
  const sql = new SqlStatements(db);
  try {
    db.exec("CREATE TABLE t (pk INTEGER PRIMARY KEY, v TEXT)");
    const insert = "INSERT INTO t (v) VALUES (?)";
    assert.equal(sql.insert(insert, "a"), 1);
    assert.equal(sql.insert(insert, "b"), 2);
    assert.equal(sql.prepare(insert), sql.prepare(insert), "the same statement is reused");
    assert.equal(sql.get("SELECT v FROM t WHERE pk = ?", 2)?.v, "b");
    assert.equal(sql.get("SELECT v FROM t WHERE pk = ?", 9), undefined);
    assert.equal(sql.run("UPDATE t SET v = 'c'"), 2);
    assert.equal(sql.run("DELETE FROM t WHERE pk = ?", 9), 0);
    assert.deepEqual(sql.all("SELECT v FROM t ORDER BY pk").map((r) => r.v), ["c", "c"]);
    const before = sql.prepare(insert);
    sql.clear();
    assert.notEqual(sql.prepare(insert), before, "cleared statements are prepared again");
  } finally {
    db.close();
  }
});
