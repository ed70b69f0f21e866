// A study or series downloaded as a ZIP file-set (PS3.10 8): the Part 10 files under
// DICOM/STnnnnnn/SEnnnnnn/IMnnnnnn (File IDs of at most eight upper-case characters per
// component), then a DICOMDIR at the root listing those that were written. Streamed: each file
// is read when its turn comes, and the DICOMDIR is written last from the index's keys.
import { dicomdirChunks, type DicomdirFile } from "../core/dicom/dicomdir.ts";
import type { StudyDetail } from "../storage/catalog.ts";
import type { EntityInstance } from "../storage/entity_instances.ts";
import type { ZipEntry } from "./zip.ts";

export interface FileSetSource {
  /** A stored object's bytes; null when gone. */
  open(sopInstanceUid: string): Promise<ReadableStream<Uint8Array> | null>;
  /** The study's patient, study and series keys; null when gone. */
  study(studyInstanceUid: string): StudyDetail | null;
  sopInstanceUid: string;
  implementationClassUid: string;
  implementationVersionName: string;
  fileSetId: string;
}

/** "ST" + 6 digits: the nth (1-based) of its kind. */
function component(prefix: string, n: number): string {
  if (n > 999_999) throw new Error(`more than 999,999 ${prefix} entries in one folder`);
  return `${prefix}${String(n).padStart(6, "0")}`;
}

/** The File ID of each instance: a folder per study and series, numbered in order. */
export function fileIdsOf(instances: readonly EntityInstance[]): string[][] {
  const studies = new Map<string, { n: number; series: number }>();
  const series = new Map<string, { n: number; images: number }>();
  return instances.map((i) => {
    let st = studies.get(i.studyInstanceUid);
    if (!st) {
      st = { n: studies.size + 1, series: 0 };
      studies.set(i.studyInstanceUid, st);
    }
    let se = series.get(i.seriesInstanceUid);
    if (!se) {
      se = { n: ++st.series, images: 0 };
      series.set(i.seriesInstanceUid, se);
    }
    return ["DICOM", component("ST", st.n), component("SE", se.n), component("IM", ++se.images)];
  });
}

/** The ZIP entries of the file-set: every instance, then DICOMDIR. */
export async function* fileSetEntries(
  instances: readonly EntityInstance[],
  src: FileSetSource,
): AsyncGenerator<ZipEntry> {
  const ids = fileIdsOf(instances);
  const details = new Map<string, StudyDetail | null>();
  const written: DicomdirFile[] = [];
  for (const [k, i] of instances.entries()) {
    if (!details.has(i.studyInstanceUid)) {
      details.set(i.studyInstanceUid, src.study(i.studyInstanceUid));
    }
    const detail = details.get(i.studyInstanceUid);
    const s = detail?.study;
    const se = detail?.series.find((x) => x.seriesInstanceUid === i.seriesInstanceUid);
    yield {
      name: ids[k].join("/"),
      modified: new Date(i.receivedAt),
      size: i.size,
      open: async () => {
        const stream = await src.open(i.sopInstanceUid);
        if (!stream) return null;
        written.push({
          fileId: ids[k],
          sopClassUid: i.sopClassUid,
          sopInstanceUid: i.sopInstanceUid,
          transferSyntaxUid: i.transferSyntaxUid,
          instanceNumber: i.instanceNumber,
          patient: {
            id: s?.patientId ?? "",
            name: s?.patientName ?? "",
            birthDate: s?.patientBirthDate,
            sex: s?.patientSex,
          },
          study: {
            uid: i.studyInstanceUid,
            date: s?.studyDate ?? "",
            time: s?.studyTime ?? "",
            description: s?.studyDescription ?? "",
            id: s?.studyId ?? "",
            accessionNumber: s?.accessionNumber ?? "",
          },
          series: {
            uid: i.seriesInstanceUid,
            modality: se?.modality ?? "",
            number: se?.seriesNumber ?? "",
          },
        });
        return stream;
      },
    };
  }
  yield {
    name: "DICOMDIR",
    open: () => {
      const chunks = dicomdirChunks(written, src);
      return Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(c) {
            const next = chunks.next();
            if (next.done) c.close();
            else c.enqueue(next.value);
          },
        }),
      );
    },
  };
}
