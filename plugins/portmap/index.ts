/**
 * The portmap plugin: a drop-in for the reference Go `portmap`
 * (containernetworking/plugins plugins/meta/portmap), with GC and STATUS,
 * rollback of a failed ADD, and its known holes fixed. See README.md.
 */
import { definePlugin, withDeps } from '../../lib/cni/plugin.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.ts';
import { type PortmapDeps, defaultDeps } from './deps.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call. */
export function createPortmapPlugin(overrides: Partial<PortmapDeps> = {}): Plugin {
  const deps = (): PortmapDeps => ({ ...defaultDeps(), ...overrides });
  return definePlugin('portmap', withDeps(deps, { add: cmdAdd, del: cmdDel, check: cmdCheck, gc: cmdGc, status: cmdStatus }));
}

export const portmapPlugin: Plugin = createPortmapPlugin();
