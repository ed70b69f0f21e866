// The study search of the Studies page and /api/studies, read from query parameters (the
// form and the API use the same names); the storage catalog runs it.
import { SearchError, type StudySearch } from "../storage/catalog.ts";

/** Reads a search from query parameters (the form and /api/studies use the same names). */
export function searchFromParams(p: URLSearchParams): StudySearch {
  const get = (k: string) => {
    const v = p.get(k);
    return v === null || v.trim() === "" ? undefined : v;
  };
  const limit = get("limit");
  if (limit !== undefined && !/^\d{1,4}$/.test(limit.trim())) {
    throw new SearchError("limit must be a number from 1 to 200");
  }
  return {
    name: get("name"),
    patientId: get("patient_id"),
    from: get("from"),
    to: get("to"),
    modality: get("modality"),
    accession: get("accession"),
    after: get("after"),
    before: get("before"),
    limit: limit === undefined ? undefined : Number(limit),
  };
}
