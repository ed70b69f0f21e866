// What the DICOMweb routes share: configuration, the index, the stored objects, the kept
// metadata, and how they answer a problem.
import type { Context } from "hono";
import type { Config } from "../../config.ts";
import type { Logger } from "../../core/ports.ts";
import type { DicomWebIndex } from "../../storage/dicomweb_db.ts";
import type { InstanceMetadataStore } from "../../storage/instance_metadata.ts";
import type { SqliteQueryIndex } from "../../storage/query_db.ts";
import type { ObjectSource } from "./instances.ts";
import type { ResponseCache } from "./response_cache.ts";

export interface DicomWebContext {
  config(): Config;
  logger: Logger;
  queryIndex: SqliteQueryIndex;
  index: DicomWebIndex;
  objects: ObjectSource;
  /** Each instance's metadata, kept. */
  metadataStore: InstanceMetadataStore;
  /** Recent metadata answers, whole. */
  responses: ResponseCache;
  /** The absolute URL of the DICOMweb root for this request (no trailing slash). */
  rootUrl(c: Context): string;
  /** An error answer: status and a one-line reason (text/plain). */
  problem(
    c: Context,
    status: 400 | 404 | 406 | 409 | 413 | 415 | 500 | 503,
    reason: string,
  ): Response;
}
