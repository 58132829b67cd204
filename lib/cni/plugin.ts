/**
 * How our plugins are put together: one about text and one list of supported
 * versions for all of them (cmd/registry.ts answers VERSION from the same data
 * without loading the plugin), and handlers whose dependencies are made per
 * call, never at import (tests pass replacements).
 */
import { VERSION } from '../build-info.ts';
import type { CmdArgs, Plugin, PluginInfo } from './skel.ts';
import type { Result } from './types/current.ts';
import { SUPPORTED_VERSIONS, versionGte } from './version.ts';

export type Handlers = Pick<Plugin, 'add' | 'del' | 'check' | 'gc' | 'status'>;

/**
 * Plugins that need what older results lack: bandwidth finds the pod's host
 * veth among prevResult's interfaces, which results have from 0.3.0 on (the
 * reference claims 0.3.0 and later too).
 */
const MIN_VERSION: Readonly<Record<string, string>> = { bandwidth: '0.3.0' };

/** What VERSION and the about text of plugin `name` say. */
export function pluginInfo(name: string): PluginInfo {
  const min = MIN_VERSION[name];
  const supportedVersions = min === undefined ? SUPPORTED_VERSIONS : SUPPORTED_VERSIONS.filter((v) => versionGte(v, min));
  return { name, about: `CNI plugin ${name} (cni-ts) v${VERSION}`, supportedVersions };
}

export function definePlugin(name: string, handlers: Handlers): Plugin {
  return { ...pluginInfo(name), ...handlers };
}

/** Handlers that take their dependencies from `makeDeps`, called once per command. */
export function withDeps<D>(
  makeDeps: () => D,
  cmds: {
    add(args: CmdArgs, deps: D): Promise<Result>;
    del(args: CmdArgs, deps: D): Promise<void>;
    check(args: CmdArgs, deps: D): Promise<void>;
    gc(args: CmdArgs, deps: D): Promise<void>;
    status(args: CmdArgs, deps: D): Promise<void>;
  },
): Handlers {
  return {
    add: (args) => cmds.add(args, makeDeps()),
    del: (args) => cmds.del(args, makeDeps()),
    check: (args) => cmds.check(args, makeDeps()),
    gc: (args) => cmds.gc(args, makeDeps()),
    status: (args) => cmds.status(args, makeDeps()),
  };
}
