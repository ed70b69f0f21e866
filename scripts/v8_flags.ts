// The V8 flags MiniPACS runs with, wherever it is started: `deno task start`, the compiled
// executable (deno compile embeds them) and the servers the tests and benchmarks start.
//
// A small young generation: the receive path's buffers are short-lived, and with V8's
// default semi-space a 1 GiB store left ~70 MB more garbage waiting for a scavenge (peak RSS
// 199 MB against 130 MB with 2 MiB semi-spaces).
//
// gc() for the idle release (src/app/idle_release.ts): once the server is quiet after work, one
// full collection gives the heap's empty pages back at once, where V8's own memory reducer
// left a large C-FIND's garbage resident for tens of seconds or more.
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2,--expose-gc";
