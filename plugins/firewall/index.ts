/**
 * The firewall plugin: a drop-in for the reference Go `firewall`
 * (containernetworking/plugins plugins/meta/firewall), iptables and firewalld
 * backends, with DEL without prevResult, GC and STATUS. See README.md.
 */
import { definePlugin, withDeps } from '../../lib/cni/plugin.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.ts';
import { type FirewallDeps, defaultDeps } from './deps.ts';

/** The plugin with some dependencies replaced (tests); the real ones are made per call. */
export function createFirewallPlugin(overrides: Partial<FirewallDeps> = {}): Plugin {
  const deps = (): FirewallDeps => ({ ...defaultDeps(), ...overrides });
  return definePlugin('firewall', withDeps(deps, { add: cmdAdd, del: cmdDel, check: cmdCheck, gc: cmdGc, status: cmdStatus }));
}

export const firewallPlugin: Plugin = createFirewallPlugin();
