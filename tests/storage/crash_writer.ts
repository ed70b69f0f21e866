// Spawned by crash_test.ts: stores generated objects on two associations until killed,
// printing each SOP Instance UID once its commit has resolved (i.e. once it is durable).
// Usage: crash_writer.ts <root> <uid prefix> <materializer idle ms>
import { crashObject, openStore, storeObject } from "./fixtures.ts";

const [root, prefix, idle] = Deno.args;
const store = await openStore(root, {
  materializer: { idleMs: Number(idle), batchObjects: 8 },
});
console.log("open");

async function loop(assoc: number): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    const uid = `${prefix}.${assoc}.${i}`;
    const { record, dataset } = crashObject(uid);
    await storeObject(store, record, dataset, { assocId: `w${assoc}`, chunks: [16_384] });
    console.log(uid);
  }
}
await Promise.all([loop(1), loop(2)]);
await store.close();
