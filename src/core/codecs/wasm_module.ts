// Loads an Emscripten-built WebAssembly codec from bytes embedded in the program (wasm/*.ts):
// no file, no network, the same on every runtime. Each module is instantiated once, when a
// frame first needs it.

/** An Emscripten module factory as the codec packages export it. */
export type ModuleFactory<M> = (options: Record<string, unknown>) => Promise<M>;

/** Base64 text -> bytes (atob is in every runtime the core runs on). */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** What instantiating a codec needs: its glue's factory and its WebAssembly as Base64. */
export interface ModuleSource<M> {
  factory: ModuleFactory<M>;
  base64: string;
}

/**
 * A lazily instantiated module; a failed instantiation is retried on the next call. `source`
 * imports the glue and the bytes when first needed: a process that never decodes never holds
 * them (the four codecs' Base64 and glue are about 6 MiB of JavaScript heap).
 */
export function lazyModule<M>(source: () => Promise<ModuleSource<M>>): () => Promise<M> {
  let module: Promise<M> | undefined;
  return () => {
    module ??= source().then(({ factory, base64 }) =>
      factory({
        wasmBinary: decodeBase64(base64),
        // The codecs' own progress messages (OpenJPEG's "[INFO] ...") are not ours to log.
        print: () => {},
        printErr: () => {},
      })
    ).catch((e) => {
      module = undefined;
      throw e;
    });
    return module;
  };
}
