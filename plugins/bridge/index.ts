/**
 * The bridge plugin: a drop-in for the reference Go `bridge`
 * (containernetworking/plugins plugins/main/bridge), with GC, STATUS and
 * rollback added and its known leaks fixed. See README.md beside this file.
 */
import { definePlugin, withDeps } from '../../lib/cni/plugin.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { cmdAdd } from './add.ts';
import { cmdCheck } from './check.ts';
import { cmdDel } from './del.ts';
import { type BridgeDeps, defaultDeps } from './deps.ts';
import { cmdGc, cmdStatus } from './lifecycle.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call, never at import. */
export function createBridgePlugin(overrides: Partial<BridgeDeps> = {}): Plugin {
  const deps = (): BridgeDeps => ({ ...defaultDeps(), ...overrides });
  return definePlugin('bridge', withDeps(deps, { add: cmdAdd, del: cmdDel, check: cmdCheck, gc: cmdGc, status: cmdStatus }));
}

export const bridgePlugin: Plugin = createBridgePlugin();
