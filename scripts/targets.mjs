// The two build targets of `npm run build` and which one a node gets by default
// (scripts/install.mjs; docs/build-targets.md has the figures behind the choice).
//
//   node  dist/bin/cni  Node 24 single-file executable (@yao-pkg/pkg SEA, trained V8 code cache)
//   bun   dist/bun/cni  Bun single-file executable (bun build --compile --bytecode)
//
// Default: bun. In one interleaved benchmark run it starts in about a third of
// the Node executable's time (VERSION), is faster on every ADD/DEL row and on 50
// ADDs at once, and has about 60 % of Node's private memory per process; it
// passes the same integration, runtime and conformance suites.
export const TARGETS = { node: 'bin', bun: 'bun' };
export const DEFAULT_TARGET = 'bun';
