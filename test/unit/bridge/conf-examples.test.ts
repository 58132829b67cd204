/** Every bridge example in conf-examples/ loads, with the keys it sets. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { loadBridgeConfig } from '../../../plugins/bridge/config.ts';
import { ROOT } from '../../helpers/exec.ts';

const DIR = join(ROOT, 'conf-examples');
const files = readdirSync(DIR).filter((f) => f.startsWith('bridge-') && f.endsWith('.conflist'));

/** The bridge entry as libcni hands it to the plugin: with the list's name and cniVersion. */
function bridgeEntry(file: string): NetConf {
  const list = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  const entry = list.plugins.find((p) => p['type'] === 'bridge');
  if (entry === undefined) throw new Error(`${file} has no bridge entry`);
  return { ...entry, name: list.name, cniVersion: list.cniVersion, type: 'bridge' };
}

describe('conf-examples', () => {
  it('has bridge examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s loads', (file) => {
    const cfg = loadBridgeConfig(bridgeEntry(file), '');
    expect(cfg.name).not.toBe('');
  });

  it('bridge-dual-stack.conflist: a gateway per family, masquerade through nftables', () => {
    expect(loadBridgeConfig(bridgeEntry('bridge-dual-stack.conflist'), '')).toMatchObject({ isGateway: true, isDefaultGateway: true, ipMasq: true, ipMasqBackend: 'nftables', ipamType: 'host-local' });
  });

  it('bridge-l2-vlan.conflist: layer 2 only, access VLAN 100', () => {
    expect(loadBridgeConfig(bridgeEntry('bridge-l2-vlan.conflist'), '')).toMatchObject({ ipamType: undefined, vlan: 100, macspoofchk: true, portIsolation: true });
  });
});
