/**
 * The bridge plugin: a drop-in for the reference Go `bridge`
 * (containernetworking/plugins plugins/main/bridge), with GC, STATUS and
 * rollback added and its known leaks fixed. See README.md beside this file.
 */
import { VERSION } from '../../lib/build-info.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { cmdAdd } from './add.ts';
import { cmdCheck } from './check.ts';
import { cmdDel } from './del.ts';
import { type BridgeDeps, defaultDeps } from './deps.ts';
import { cmdGc, cmdStatus } from './lifecycle.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call, never at import. */
export function createBridgePlugin(overrides: Partial<BridgeDeps> = {}): Plugin {
  const deps = (): BridgeDeps => ({ ...defaultDeps(), ...overrides });
  return {
    name: 'bridge',
    about: `CNI plugin bridge (cni-ts) v${VERSION}`,
    supportedVersions: SUPPORTED_VERSIONS,
    add: (args) => cmdAdd(args, deps()),
    del: (args) => cmdDel(args, deps()),
    check: (args) => cmdCheck(args, deps()),
    gc: (args) => cmdGc(args, deps()),
    status: (args) => cmdStatus(args, deps()),
  };
}

export const bridgePlugin: Plugin = createBridgePlugin();
