'use strict';
// The executable's main script (and, run by the plain Node base at build time,
// the training harness). It compiles the bundle (build/bundle.js, an asset)
// through vm.Script with a V8 code cache (build/bundle.cache, an asset) that
// the build made after training runs of VERSION, ADD and DEL, so the functions
// a run needs arrive compiled instead of being parsed and compiled at every
// start. A cache V8 rejects (another V8 version or flags) only costs time: the
// source compiles as usual. The bundle's entry (cmd/entry.ts `start`) gets a
// typed host object (lib/host.ts): which of those happened (`cni selftest`
// prints it; a test checks it), the embedded files and the other bundles.
//
// Training (never in the executable: there isSea() is true): the build runs
// `node-base sea-loader.cjs <plugin>` with CNI_TS_TRAIN_BUNDLE (the same
// bundle.js), optionally CNI_TS_TRAIN_CACHE_IN (the previous run's cache) and
// CNI_TS_TRAIN_CACHE_OUT, where the cache is written as the process exits,
// with every function compiled so far.

// one libuv worker is enough (we make few async fs calls) and saves a thread per run;
// must be set before the pool's first use
if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '1';

const sea = require('node:sea');
const { Script, constants: vmConstants } = require('node:vm');

const FILENAME = '/cni-ts/bundle.js';
let source;
let cachedData;
let cacheOut;
let bundleDir; // outside the executable: where bundle.js and its sibling bundles are
if (sea.isSea()) {
  source = sea.getAsset('bundle.js', 'utf8');
  const raw = sea.getRawAsset('bundle.cache');
  cachedData = raw.byteLength > 0 ? Buffer.from(raw) : undefined;
} else {
  const fs = require('node:fs');
  source = fs.readFileSync(process.env.CNI_TS_TRAIN_BUNDLE, 'utf8');
  bundleDir = require('node:path').dirname(process.env.CNI_TS_TRAIN_BUNDLE);
  const cacheIn = process.env.CNI_TS_TRAIN_CACHE_IN;
  cachedData = cacheIn ? fs.readFileSync(cacheIn) : undefined;
  cacheOut = process.env.CNI_TS_TRAIN_CACHE_OUT;
  for (const k of Object.keys(process.env)) if (k.startsWith('CNI_TS_TRAIN_')) delete process.env[k];
}

// esbuild turns our own import() calls into plain calls; the default loader serves any left (built-ins)
const options = { filename: FILENAME, importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER };
const script = new Script(source, cachedData === undefined ? options : { ...options, cachedData });
if (cacheOut !== undefined) {
  process.on('exit', () => require('node:fs').writeFileSync(cacheOut, script.createCachedData()));
}
// Another bundle of the executable (tools.js: `cni tool`, `cni conformance`, `cni install`), compiled
// when asked for, without a code cache: cmd/registry.ts asks
const loadBundle = (name) => {
  const text = sea.isSea()
    ? sea.getAsset(name, 'utf8')
    : require('node:fs').readFileSync(require('node:path').join(bundleDir, name), 'utf8');
  const other = { exports: {} };
  new Script(text, { filename: `/cni-ts/${name}`, importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER }).runInThisContext()(
    other.exports,
    require,
    other,
    `/cni-ts/${name}`,
    '/cni-ts',
  );
  return other.exports;
};

const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, FILENAME, '/cni-ts');
mod.exports.start({
  codeCache: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted',
  // training: exit through Node's teardown (lib/cni/main.ts), which writes the cache; the addon from the build tree
  ...(sea.isSea() ? {} : { training: { sourceRoot: require('node:path').join(__dirname, '..') } }),
  embedded: (name) => (sea.isSea() ? new Uint8Array(sea.getRawAsset(name)) : undefined),
  loadBundle,
});
