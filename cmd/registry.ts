/**
 * The composition root: which plugins and subcommands this executable has.
 * Every entry loads its code on first use (esbuild turns each `import()` into a
 * lazily initialised module of the bundle), so VERSION and a bridge ADD never
 * run flannel's or host-local's module top level, nor import what they import.
 *
 * scripts/build.mjs (the links in dist/bin) and scripts/install.mjs read
 * PLUGIN_NAMES from here; add a plugin by adding one line to PLUGIN_LOADERS.
 */
import type { LazyPlugin, Plugin } from '../lib/cni/skel.ts';
import { SUPPORTED_VERSIONS } from '../lib/cni/version.ts';
import { COMMIT, VERSION } from '../lib/build-info.ts';
import { pluginInfo } from '../lib/cni/plugin.ts';
import type { Tools } from './tools.ts';
import { host } from '../lib/host.ts';

/** True in the executable's bundle (esbuild's define), where cmd/tools.ts is a bundle of its own. */
declare const __CNI_TS_SPLIT_TOOLS__: boolean;

export type PluginLoader = () => Promise<Plugin>;

/** Plugin name (the basename it is called by) → its code, loaded on first use. */
const PLUGIN_LOADERS: ReadonlyArray<readonly [string, PluginLoader]> = [
  ['bandwidth', () => import('../plugins/bandwidth/index.ts').then((m) => m.bandwidthPlugin)],
  ['bridge', () => import('../plugins/bridge/index.ts').then((m) => m.bridgePlugin)],
  ['firewall', () => import('../plugins/firewall/index.ts').then((m) => m.firewallPlugin)],
  ['flannel', () => import('../plugins/flannel/index.ts').then((m) => m.flannelPlugin)],
  ['host-local', () => import('../ipam/host-local/index.ts').then((m) => m.hostLocalPlugin)],
  ['loopback', () => import('../plugins/loopback/index.ts').then((m) => m.loopbackPlugin)],
  ['portmap', () => import('../plugins/portmap/index.ts').then((m) => m.portmapPlugin)],
];

/** A subcommand of `cni <name> [args...]`; resolves to the exit code. */
export type Subcommand = (argv: readonly string[]) => Promise<number>;

/** `cni <name>` subcommands, by name, loaded on first use. */
export const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ['selftest', () => import('./selftest.ts').then((m) => m.selftest())],
  ['version', (argv) => import('./version.ts').then((m) => m.version(argv, banner()))],
  ['install', (argv) => loadTools().then((t) => t.install(argv, PLUGIN_NAMES))],
  ['tool', (argv) => loadTools().then((t) => t.tool(argv))],
  ['conformance', (argv) => loadTools().then((t) => t.conformance(argv))],
]);

/**
 * The tools bundle: in the executable, the asset scripts/sea-loader.cjs
 * compiles on demand (the dead import() below is left out of the bundle);
 * elsewhere (tests, the source tree) the module itself.
 */
async function loadTools(): Promise<Tools> {
  if (__CNI_TS_SPLIT_TOOLS__) {
    const h = host();
    if (h === undefined) throw new Error('the tools bundle is only in the executable');
    return (h.loadBundle('tools.js') as { TOOLS: Tools }).TOOLS;
  } else {
    return (await import('./tools.ts')).TOOLS;
  }
}

/**
 * What VERSION and the about text print come from lib/cni/plugin.ts's
 * pluginInfo, the data every plugin of ours is defined with, so the plugin
 * need not be loaded for them; a unit test checks each loaded plugin agrees.
 */
export { pluginInfo };

export const PLUGIN_NAMES: readonly string[] = PLUGIN_LOADERS.map(([name]) => name);

export const PLUGINS: ReadonlyMap<string, LazyPlugin> = new Map(PLUGIN_LOADERS.map(([name, load]) => [name, { ...pluginInfo(name), load }]));

/** What `cni` prints when called by its own name (and `cni --help`; on stderr as the usage of a mistyped call). */
export function banner(): string {
  return (
    `cni-ts ${VERSION} (commit ${COMMIT}): CNI plugins in one executable (CNI spec ${SUPPORTED_VERSIONS.join(', ')})\n` +
    `plugins: ${PLUGIN_NAMES.join(', ')}\n` +
    `subcommands: ${[...SUBCOMMANDS.keys()].join(', ')}\n` +
    'usage: cni [--version | --help | <subcommand> [args...] | <plugin>]\n' +
    'Run it through a link named after a plugin (or as "cni <plugin>") with CNI_COMMAND set.\n'
  );
}

