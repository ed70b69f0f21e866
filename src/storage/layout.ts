// Where things live under storage.path: index.sqlite, journal/, tmp/ and the home files
// <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm.
import { uidPathComponent } from "../core/dicom/uid.ts";
import type { InstanceRecord } from "../core/ports.ts";

export const INDEX_FILE = "index.sqlite";
/** Materializer scratch files; emptied at start-up. Same volume as the homes, so rename works. */
export const TMP_DIR = "tmp";
export const HOME_SUFFIX = ".dcm";

/** What uidPathComponent() may return: a plain UID or "h" + SHA-256 hex. */
const SAFE_COMPONENT = /^(?:[0-9]+(?:\.[0-9]+)*|h[0-9a-f]{64})$/;

async function component(uid: string): Promise<string> {
  const name = await uidPathComponent(uid);
  // Defence in depth: nothing but digits, dots (never "." or "..") or a hash reaches a path.
  if (!SAFE_COMPONENT.test(name)) throw new Error("UID maps to an unsafe path component");
  return name;
}

/** The home file of an object, relative to the storage root, "/"-separated. */
export async function homePathFor(
  record: Pick<InstanceRecord, "studyInstanceUid" | "seriesInstanceUid" | "sopInstanceUid">,
): Promise<string> {
  const [study, series, sop] = await Promise.all([
    component(record.studyInstanceUid),
    component(record.seriesInstanceUid),
    component(record.sopInstanceUid),
  ]);
  return `${study}/${series}/${sop}${HOME_SUFFIX}`;
}

export function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** Removes a file; a file already gone is fine. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
