// The instances of a study, a series or one instance, read through a read-only connection:
// what a download, a send or an instance list works through.
import type { DatabaseSync } from "node:sqlite";
import type { DeleteLevel } from "./index_db.ts";

export interface EntityInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  instanceNumber: string;
  /** Bytes of the stored Part 10 object. */
  size: number;
  /** The home file path below the storage root (where it is or will be). */
  homePath: string;
  receivedAt: string;
}

const SELECT = `SELECT st.study_instance_uid AS study, se.series_instance_uid AS series,
  i.sop_instance_uid AS sop, i.sop_class_uid AS class, i.transfer_syntax_uid AS ts,
  i.instance_number AS number, i.loc_length AS size, i.home_path AS home,
  i.received_at AS received
  FROM instance i JOIN series se ON se.pk = i.series_pk JOIN study st ON st.pk = se.study_pk`;

const WHERE: Record<DeleteLevel, string> = {
  study: "st.study_instance_uid = ?",
  series: "se.series_instance_uid = ?",
  instance: "i.sop_instance_uid = ?",
};

/**
 * The instances under one entity, by series then Instance Number (as a number when it is one);
 * at most `limit`. Empty when the UID is unknown.
 */
export function instancesUnder(
  db: DatabaseSync,
  level: DeleteLevel,
  uid: string,
  limit = 100_000,
): EntityInstance[] {
  const rows = db.prepare(
    `${SELECT} WHERE ${WHERE[level]}
     ORDER BY se.series_number + 0, se.series_instance_uid, i.instance_number + 0,
       i.sop_instance_uid LIMIT ?`,
  ).all(uid, limit) as Record<string, unknown>[];
  return rows.map((r) => ({
    studyInstanceUid: String(r.study),
    seriesInstanceUid: String(r.series),
    sopInstanceUid: String(r.sop),
    sopClassUid: String(r.class),
    transferSyntaxUid: String(r.ts),
    instanceNumber: String(r.number),
    size: Number(r.size),
    homePath: String(r.home),
    receivedAt: String(r.received),
  }));
}
