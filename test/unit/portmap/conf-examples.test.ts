/**
 * The examples portmap and loopback are run with: containerd's loopback
 * network (go-cni WithLoNetwork) and the portmap entry of each kube-flannel
 * conflist, as libcni hands them over (name and cniVersion from the list,
 * runtimeConfig from the declared capability).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type NetConf, validateConf } from '../../../lib/cni/conf.ts';
import { isSupportedVersion } from '../../../lib/cni/version.ts';
import { loopbackSchema } from '../../../build/gen/schemas.mjs';
import { validateLoopback } from '../../../build/gen/validators.mjs';
import { loadPortMapConfig } from '../../../plugins/portmap/config.ts';
import { ROOT } from '../../helpers/exec.ts';

const DIR = join(ROOT, 'conf-examples');
const read = (file: string): { cniVersion: string; name: string; plugins: Record<string, unknown>[] } =>
  JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };

describe('conf-examples for portmap and loopback', () => {
  it("containerd-loopback.conflist is containerd's loopback network and loads", () => {
    const list = read('containerd-loopback.conflist');
    expect(list).toEqual({ cniVersion: '0.3.1', name: 'cni-loopback', plugins: [{ type: 'loopback' }] });
    const conf = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion } as NetConf;
    expect(() => validateConf(conf, loopbackSchema, validateLoopback)).not.toThrow();
  });

  const flannelLists = readdirSync(DIR).filter((f) => f.startsWith('flannel') && f.endsWith('.conflist'));
  it.each(flannelLists)('%s: the portmap entry loads with containerd\'s capability args', (file) => {
    const list = read(file);
    expect(isSupportedVersion(list.cniVersion)).toBe(true);
    const entry = list.plugins.find((p) => p['type'] === 'portmap');
    expect(entry).toMatchObject({ capabilities: { portMappings: true } });
    // containerd's go-cni struct has no JSON tags: the keys arrive capitalised
    const conf: NetConf = { ...entry, type: 'portmap', name: list.name, cniVersion: list.cniVersion, runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }] } };
    const c = loadPortMapConfig(conf, 'eth0');
    expect(c.mappings).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIp: undefined, hostFamily: undefined }]);
    expect(c).toMatchObject({ snat: true, backend: undefined, markMasqBit: 13 });
  });
});
