/**
 * Every flannel example in conf-examples/ loads: each conflist's flannel entry,
 * as a runtime hands it over (name and cniVersion from the list), renders the
 * kube-flannel delegate against each sample subnet.env; every sample parses.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type NetConf, isObject } from '../../../lib/cni/conf.ts';
import { isSupportedVersion } from '../../../lib/cni/version.ts';
import { ROOT } from '../../helpers/exec.ts';
import { loadFlannelConf } from '../../../plugins/flannel/config.ts';
import { buildDelegate } from '../../../plugins/flannel/delegate.ts';
import { parseSubnetEnv } from '../../../plugins/flannel/subnet-env.ts';

const DIR = join(ROOT, 'conf-examples');
const conflists = readdirSync(DIR).filter((f) => f.startsWith('flannel') && f.endsWith('.conflist'));
const envs = readdirSync(DIR).filter((f) => f.startsWith('flannel-subnet') && f.endsWith('.env'));

/** libcni's per-plugin config: the entry plus the list's name and cniVersion. */
function flannelEntry(file: string): { list: Record<string, unknown>; entry: Record<string, unknown> } {
  const list = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Record<string, unknown>;
  const plugins = list['plugins'];
  if (!Array.isArray(plugins)) throw new Error(`${file}: no plugins`);
  const flannel = (plugins as unknown[]).find((p) => isObject(p) && p['type'] === 'flannel');
  if (!isObject(flannel)) throw new Error(`${file}: no flannel entry`);
  return { list, entry: { ...flannel, name: list['name'], cniVersion: list['cniVersion'] } };
}

describe('conf-examples', () => {
  it('has the kube-flannel conflists (1.0.0, 1.1.0, dual stack) and the subnet.env samples', () => {
    expect(conflists.sort()).toEqual(['flannel-dual-stack.conflist', 'flannel-kube-1.0.0.conflist', 'flannel-kube-1.1.0.conflist']);
    expect(envs.length).toBeGreaterThanOrEqual(4);
  });

  it.each(conflists)('%s: flannel first, then portmap with the portMappings capability, a supported version', (file) => {
    const { list } = flannelEntry(file);
    expect(isSupportedVersion(String(list['cniVersion']))).toBe(true);
    expect((list['plugins'] as Record<string, unknown>[]).map((p) => p['type'])).toEqual(['flannel', 'portmap']);
    expect((list['plugins'] as Record<string, unknown>[])[1]).toMatchObject({ capabilities: { portMappings: true } });
  });

  it.each(envs)('%s parses', (file) => {
    const env = parseSubnetEnv(readFileSync(join(DIR, file), 'utf8'), file);
    expect(env.subnet !== undefined || env.ipv6Subnet !== undefined).toBe(true);
  });

  const pairs = conflists.flatMap((c) => envs.map((e) => [c, e] as const));
  it.each(pairs)('%s with %s renders the kube-flannel delegate', (file, envFile) => {
    const { entry } = flannelEntry(file);
    const conf = loadFlannelConf(entry as NetConf, Buffer.from(JSON.stringify(entry)));
    const env = parseSubnetEnv(readFileSync(join(DIR, envFile), 'utf8'), envFile);
    const d = buildDelegate(conf, env);
    expect(d).toMatchObject({ type: 'bridge', name: 'cbr0', cniVersion: entry['cniVersion'], hairpinMode: true, isDefaultGateway: true, isGateway: true, mtu: env.mtu, ipMasq: !env.ipMasq });
    const ranges = (d['ipam'] as { ranges: unknown[] }).ranges;
    expect(ranges).toHaveLength((env.subnet === undefined ? 0 : 1) + (env.ipv6Subnet === undefined ? 0 : 1));
  });

  it('the dual-stack sample gives one range per family and a route to each cluster network', () => {
    const { entry } = flannelEntry('flannel-dual-stack.conflist');
    const d = buildDelegate(loadFlannelConf(entry as NetConf), parseSubnetEnv(readFileSync(join(DIR, 'flannel-subnet-dual-stack.env'), 'utf8'), 'x'));
    expect(d['ipam']).toEqual({
      type: 'host-local',
      ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
      routes: [{ dst: '10.244.0.0/16' }, { dst: 'fd00:10:244::/56' }],
    });
  });
});
