/**
 * The portmap plugin: a drop-in for the reference Go `portmap`
 * (containernetworking/plugins plugins/meta/portmap), with GC and STATUS,
 * rollback of a failed ADD, and its known holes fixed. See README.md.
 */
import { VERSION } from '../../lib/build-info.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.ts';
import { type PortmapDeps, defaultDeps } from './deps.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call. */
export function createPortmapPlugin(overrides: Partial<PortmapDeps> = {}): Plugin {
  const deps = (): PortmapDeps => ({ ...defaultDeps(), ...overrides });
  return {
    name: 'portmap',
    about: `CNI plugin portmap (cni-ts) v${VERSION}`,
    supportedVersions: SUPPORTED_VERSIONS,
    add: (args) => cmdAdd(args, deps()),
    del: (args) => cmdDel(args, deps()),
    check: (args) => cmdCheck(args, deps()),
    gc: (args) => cmdGc(args, deps()),
    status: (args) => cmdStatus(args, deps()),
  };
}

export const portmapPlugin: Plugin = createPortmapPlugin();
