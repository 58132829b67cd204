// The Bun executable's entry (`bun build --compile --bytecode`, scripts/build.mjs): the
// counterpart of scripts/sea-loader.cjs for the Node executable. It runs the very same
// bundle (build/bundle.cjs, esbuild's output of cmd/entry.ts), which Bun compiles to
// bytecode at build time. Files the bundle needs at run time are embedded and handed over
// by their /$bunfs paths: our native addon (lib/native/loader.ts loads its bytes through an
// anonymous O_TMPFILE inode, as under Node) and the tools' bundle (compiled on demand for
// `cni tool` and `cni conformance`, as under Node).
//
// BUN_OPTIONS adds Bun command-line options to every Bun executable, --preload among them,
// applied before this file runs; the runtime that execs a plugin passes its own
// environment. A plugin run with it set is refused (code 4) rather than run with options
// nobody chose for it (docs/build-targets.md: why this is hygiene, not a security boundary).
import nativeAddon from '../build/cni_native.node' with { type: 'file' };
import toolsBundle from '../build/tools.js' with { type: 'file' };
import { readFileSync, writeSync } from 'node:fs';
import { runInThisContext } from 'node:vm';

const injected = process.env.BUN_OPTIONS;
if (injected !== undefined && injected !== '') {
  const err = { code: 4, msg: 'BUN_OPTIONS is set: refusing to run with Bun options from the environment', details: `BUN_OPTIONS=${JSON.stringify(injected)}` };
  writeSync(1, JSON.stringify(err, null, 4));
  process.exit(1);
}

const files = { 'cni_native.node': nativeAddon };

// the bundle's entry (cmd/entry.ts) gets its typed host object (lib/host.ts)
require('../build/bundle.cjs').start({
  embedded: (name) => (Object.hasOwn(files, name) ? readFileSync(files[name]) : undefined),
  loadBundle: (name) => {
    if (name !== 'tools.js') throw new Error(`no bundle ${name} in this executable`);
    const fn = runInThisContext(readFileSync(toolsBundle, 'utf8'), { filename: `/cni-ts/${name}` });
    const other = { exports: {} };
    fn(other.exports, require, other, `/cni-ts/${name}`, '/cni-ts');
    return other.exports;
  },
});
