// The V8 flags MiniPACS runs with, wherever it is started: `deno task start`, the compiled
// executable (deno compile embeds them) and the servers the tests and benchmarks start.
//
// A small young generation: the receive path's buffers are short-lived, and with V8's
// default semi-space a 1 GiB store left ~70 MB more garbage waiting for a scavenge (peak RSS
// 199 MB against 130 MB with 2 MiB semi-spaces).
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2";
