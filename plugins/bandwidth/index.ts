/**
 * The bandwidth plugin: a drop-in for the reference Go `bandwidth`
 * (containernetworking/plugins plugins/meta/bandwidth, v1.9), with GC and
 * STATUS, rollback of a failed ADD and a CHECK that checks. See README.md.
 */
import { definePlugin, withDeps } from '../../lib/cni/plugin.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.ts';
import { type BandwidthDeps, defaultDeps } from './deps.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call. */
export function createBandwidthPlugin(overrides: Partial<BandwidthDeps> = {}): Plugin {
  const deps = (): BandwidthDeps => ({ ...defaultDeps(), ...overrides });
  return definePlugin('bandwidth', withDeps(deps, { add: cmdAdd, del: cmdDel, check: cmdCheck, gc: cmdGc, status: cmdStatus }));
}

export const bandwidthPlugin: Plugin = createBandwidthPlugin();
