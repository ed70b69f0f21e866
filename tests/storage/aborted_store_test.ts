// A C-STORE-RQ whose association is aborted before any dataset arrives: the store handler
// runs on after the association is over, and must not leave a journal segment (and its open
// file) behind once the association has ended in the object store.
import assert from "node:assert/strict";
import { CommandField } from "../../src/core/dimse/command.ts";
import { StorageService } from "../../src/core/services/store_scp.ts";
import { AcceptorAssociation } from "../../src/core/ul/acceptor.ts";
import type { SupportedSyntax } from "../../src/core/ul/negotiation.ts";
import { RequestorAssociation } from "../../src/core/ul/requestor.ts";
import { FsObjectStore } from "../../src/storage/object_store.ts";
import { memoryConnectionPair } from "../helpers/memory_connection.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const IMPLICIT = "1.2.840.10008.1.2";
const quiet = { log() {} };

Deno.test("stores cut off by an A-ABORT before their dataset leave no journal segment open", async () => {
  const root = await Deno.makeTempDir({ prefix: "minipacs-aborted-" });
  const store = await FsObjectStore.open({
    root,
    durability: "fsync",
    duplicates: "overwrite",
    implementationClassUid: "1.2.3",
    implementationVersionName: "TEST",
    logger: quiet,
  });
  try {
    const service = new StorageService({ store, sopClasses: [CT], minFreeBytes: 0 });
    const syntaxes = new Map<string, SupportedSyntax>();
    for (const x of service.syntaxes()) syntaxes.set(x.abstractSyntax, x);
    for (let i = 0; i < 10; i++) {
      const [a, b] = memoryConnectionPair();
      const acceptor = new AcceptorAssociation({
        id: `a${i}`,
        connection: a,
        logger: quiet,
        artimTimeoutMs: 1000,
        idleTimeoutMs: 5000,
        maxPduLength: 16384,
        services: [service],
        policy: () => ({
          aeTitle: "MINIPACS",
          checkCalledAe: false,
          maxPduLength: 16384,
          implementationClassUid: "1.2.3",
          implementationVersionName: "TEST",
          syntaxes,
        }),
      });
      // As the server does: the association is ended in the store once run() resolves.
      const done = acceptor.run().finally(() => store.endAssociation(acceptor.info.id));
      const requestor = new RequestorAssociation({
        id: "r",
        connection: b,
        logger: quiet,
        artimTimeoutMs: 1000,
        idleTimeoutMs: 0,
        maxPduLength: 16384,
        callingAeTitle: "SCU",
        calledAeTitle: "MINIPACS",
        implementationClassUid: "1.2.3",
        implementationVersionName: "TEST",
        presentationContexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }],
      });
      await requestor.open();
      await requestor.sendMessage(1, {
        commandField: CommandField.CStoreRq,
        commandDataSetType: 0,
        messageId: 1,
        affectedSopClassUid: CT,
        affectedSopInstanceUid: `1.2.${i}`,
      }); // the command only: its dataset never comes
      await requestor.abort();
      await done;
    }
    const segments = [...Deno.readDirSync(`${root}/journal`)].filter((e) =>
      e.name.endsWith(".seg")
    );
    // Ended segments with nothing in them are retired; none may still be open for writing.
    await store.drain();
    const left = [...Deno.readDirSync(`${root}/journal`)].filter((e) => e.name.endsWith(".seg"));
    assert.equal(
      left.length,
      0,
      `segments left: ${segments.length} before drain, ${left.length} after`,
    );
    assert.equal(store.counts().instances, 0, "nothing was indexed");
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});
