// Identifiers for query tests: elements from (tag, VR, text) triples, encoded as a peer would.
import {
  type DataElement,
  encodeDataset,
  encodingOf,
  textElement,
} from "../../../src/core/dicom/dataset.ts";

export type Key = [tag: number, vr: string, text: string] | DataElement;

export const IMPLICIT_LE = "1.2.840.10008.1.2";
export const EXPLICIT_LE = "1.2.840.10008.1.2.1";

/** Elements in the character set (Specific Character Set added when not ""). */
export function elements(keys: Key[], charset = ""): DataElement[] {
  const out: DataElement[] = [];
  if (charset) out.push(textElement(0x00080005, "CS", charset, "")!);
  for (const k of keys) {
    if (!Array.isArray(k)) {
      out.push(k);
      continue;
    }
    const [tag, vr, text] = k;
    const el = textElement(tag, vr, text, charset);
    if (!el) throw new Error(`${text} does not fit ${charset}`);
    out.push(el);
  }
  return out;
}

export function identifier(keys: Key[], charset = "", ts = EXPLICIT_LE): Uint8Array {
  return encodeDataset(elements(keys, charset), encodingOf(ts));
}

export const T = {
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  QueryRetrieveLevel: 0x00080052,
  RetrieveAETitle: 0x00080054,
  Modality: 0x00080060,
  ModalitiesInStudy: 0x00080061,
  InstitutionName: 0x00080080,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  NumberOfStudyRelatedInstances: 0x00201208,
  Rows: 0x00280010,
  RequestAttributesSequence: 0x00400275,
  RequestedProcedureID: 0x00401001,
} as const;
