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

/** A lazily instantiated module; a failed instantiation is retried on the next call. */
export function lazyModule<M>(factory: ModuleFactory<M>, base64: () => string): () => Promise<M> {
  let module: Promise<M> | undefined;
  return () => {
    module ??= factory({
      wasmBinary: decodeBase64(base64()),
      // The codecs' own progress messages (OpenJPEG's "[INFO] ...") are not ours to log.
      print: () => {},
      printErr: () => {},
    }).catch((e) => {
      module = undefined;
      throw e;
    });
    return module;
  };
}
