// DICOMweb's own reads of the index: the instances of a study, series or instance in a
// stable order, with their kept metadata (instance_metadata.ts, attached as "dw") when it is
// current, and the instances whose metadata is missing or stale.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { METADATA_FILE } from "./instance_metadata.ts";
import { TOTALS_SELECT, totalsOf } from "./totals.ts";

/** One stored instance, as WADO-RS needs it. */
export interface StoredInstanceEntry {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** The commit seq of the stored copy: a new copy has a higher one. */
  seq: number;
}

/** Which instances: a study, a series of it, or one instance. */
export interface InstanceScope {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

/** An instance whose kept metadata is missing or was computed for another seq. */
export interface MissingMetadata {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  seq: number;
  /** Still in the journal: its stored form may change when materialized (compression). */
  journal: boolean;
}

const INSTANCES_SQL = `
SELECT st.study_instance_uid AS study, se.series_instance_uid AS series,
       i.sop_instance_uid AS sop, i.sop_class_uid AS class, i.transfer_syntax_uid AS ts,
       i.seq AS seq
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk`;
const ORDER = ` ORDER BY se.pk, CAST(i.instance_number AS INTEGER), i.pk`;

const WITH_METADATA = `
SELECT st.study_instance_uid AS study, se.series_instance_uid AS series,
       i.sop_instance_uid AS sop, i.sop_class_uid AS class, i.transfer_syntax_uid AS ts,
       i.seq AS seq, m.json AS json
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
  LEFT JOIN dw.instance_json m ON m.sop_instance_uid = i.sop_instance_uid AND m.seq = i.seq`;

export class DicomWebIndex {
  readonly #openReader: () => DatabaseSync;
  readonly #root: string;
  #reader: DatabaseSync | undefined;
  #statements = new Map<string, StatementSync>();

  /** `root`: the storage folder, where instance_metadata.ts keeps its file (created first). */
  constructor(openReader: () => DatabaseSync, root: string) {
    this.#openReader = openReader;
    this.#root = root;
  }

  #stmt(sql: string): StatementSync {
    if (!this.#reader) {
      const reader = this.#openReader();
      try {
        reader.prepare("ATTACH DATABASE ? AS dw").run(`${this.#root}/${METADATA_FILE}`);
      } catch (e) {
        reader.close();
        throw e;
      }
      this.#reader = reader;
    }
    let s = this.#statements.get(sql);
    if (!s) this.#statements.set(sql, s = this.#reader.prepare(sql));
    return s;
  }

  /** The instances in scope, by series then Instance Number; [] when none. */
  instances(scope: InstanceScope): StoredInstanceEntry[] {
    return this.#instances(INSTANCES_SQL, scope);
  }

  /** The same, each with its kept metadata when current (`json`), in one query. */
  instancesWithMetadata(scope: InstanceScope): (StoredInstanceEntry & { json?: string })[] {
    return this.#instances(WITH_METADATA, scope);
  }

  #instances(select: string, scope: InstanceScope): (StoredInstanceEntry & { json?: string })[] {
    let sql = `${select} WHERE st.study_instance_uid = ?`;
    const params = [scope.studyInstanceUid];
    if (scope.seriesInstanceUid !== undefined) {
      sql += " AND se.series_instance_uid = ?";
      params.push(scope.seriesInstanceUid);
    }
    if (scope.sopInstanceUid !== undefined) {
      sql += " AND i.sop_instance_uid = ?";
      params.push(scope.sopInstanceUid);
    }
    const rows = this.#stmt(sql + ORDER).all(...params) as Record<string, unknown>[];
    return rows.map((r) => ({
      studyInstanceUid: String(r.study),
      seriesInstanceUid: String(r.series),
      sopInstanceUid: String(r.sop),
      sopClassUid: String(r.class),
      transferSyntaxUid: String(r.ts),
      seq: Number(r.seq),
      json: typeof r.json === "string" ? r.json : undefined,
    }));
  }

  /**
   * Of the `limit` instances with the lowest seqs above `afterSeq` (read through the seq index,
   * not the whole table), those whose kept metadata is missing or stale (`journal`: not
   * materialized yet); `last` is the highest seq among the `limit` looked at, `afterSeq` when
   * there were none: the walk is over.
   */
  missingMetadata(afterSeq: number, limit: number): { rows: MissingMetadata[]; last: number } {
    const rows = this.#stmt(
      `SELECT st.study_instance_uid AS study, se.series_instance_uid AS series,
              i.sop_instance_uid AS sop, i.seq AS seq, i.loc_kind = 'journal' AS journal
         FROM (SELECT series_pk, sop_instance_uid, seq, loc_kind FROM instance
                WHERE seq > ? ORDER BY seq LIMIT ?) i
         JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk
         LEFT JOIN dw.instance_json m
           ON m.sop_instance_uid = i.sop_instance_uid AND m.seq = i.seq
        WHERE m.sop_instance_uid IS NULL
        ORDER BY i.seq`,
    ).all(afterSeq, limit) as Record<string, unknown>[];
    const last = Number(
      (this.#stmt(
        `SELECT coalesce(max(seq), ?) AS m FROM
           (SELECT seq FROM instance WHERE seq > ? ORDER BY seq LIMIT ?)`,
      ).get(afterSeq, afterSeq, limit) as { m: number }).m,
    );
    return {
      rows: rows.map((r) => ({
        studyInstanceUid: String(r.study),
        seriesInstanceUid: String(r.series),
        sopInstanceUid: String(r.sop),
        seq: Number(r.seq),
        journal: Number(r.journal) === 1,
      })),
      last,
    };
  }

  /**
   * The highest commit seq in the index (0 when empty): the kept totals' high-water mark
   * (totals.ts; no scan), or max(seq) over every instance in an index without them.
   */
  maxSeq(): number {
    try {
      const row = this.#stmt(TOTALS_SELECT).get();
      if (row) return totalsOf(row).maxSeq;
    } catch {
      // no totals table: an index this server has not opened for writing yet
    }
    return Number(
      (this.#stmt("SELECT coalesce(max(seq), 0) AS s FROM instance").get() as { s: number }).s,
    );
  }

  /** Changes whenever another connection commits to the index (PRAGMA data_version). */
  dataVersion(): number {
    return Number(
      (this.#stmt("PRAGMA main.data_version").get() as { data_version: number })
        .data_version,
    );
  }

  /** The series of a study, in the order they were first stored. */
  seriesOf(studyInstanceUid: string): string[] {
    const rows = this.#stmt(
      `SELECT se.series_instance_uid AS series FROM series se JOIN study st
         ON st.pk = se.study_pk WHERE st.study_instance_uid = ? ORDER BY se.pk`,
    ).all(studyInstanceUid) as Record<string, unknown>[];
    return rows.map((r) => String(r.series));
  }

  close(): void {
    this.#statements.clear();
    this.#reader?.close();
    this.#reader = undefined;
  }
}
