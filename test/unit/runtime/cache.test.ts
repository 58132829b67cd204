import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeCacheEntry, encodeCacheEntry, ResultCache, type CachedAttachment } from '../../../lib/runtime/index.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rt-cache-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry: CachedAttachment = {
  containerId: 'ctr1',
  ifName: 'eth0',
  networkName: 'mynet',
  config: Buffer.from('{"cniVersion":"1.0.0"}'),
  netns: '/var/run/netns/t',
  cniArgs: [['IgnoreUnknown', '1']],
  capabilityArgs: { portMappings: [{ protocol: 'tcp', hostPort: 8080, containerPort: 80 }] },
  result: { cniVersion: '1.0.0', ips: [{ interface: 0, address: '10.0.0.2/24' }], interfaces: [{ name: 'eth0' }] },
};

describe('cache entry format', () => {
  it("is libcni's cachedInfo: field order, base64 config, Go-map key order inside", () => {
    expect(encodeCacheEntry(entry)).toBe(
      '{"kind":"cniCacheV1","containerId":"ctr1","config":"eyJjbmlWZXJzaW9uIjoiMS4wLjAifQ==","ifName":"eth0","networkName":"mynet","netns":"/var/run/netns/t",' +
        '"cniArgs":[["IgnoreUnknown","1"]],"capabilityArgs":{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]},' +
        '"result":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}}',
    );
  });

  it('omits empty optional fields like Go omitempty', () => {
    const text = encodeCacheEntry({ ...entry, netns: '', cniArgs: undefined, capabilityArgs: {}, result: undefined });
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['kind', 'containerId', 'config', 'ifName', 'networkName']);
  });

  it('round-trips, and reads keys case-insensitively as Go does (ocicni writes containerID)', () => {
    expect(decodeCacheEntry(encodeCacheEntry(entry))).toMatchObject({ containerId: 'ctr1', ifName: 'eth0', networkName: 'mynet', netns: '/var/run/netns/t' });
    const ocicni = '{"kind":"cniCacheV1","containerID":"abc","config":"e30=","ifName":"eth1","networkName":"n"}';
    expect(decodeCacheEntry(ocicni)).toMatchObject({ containerId: 'abc', ifName: 'eth1', config: Buffer.from('{}') });
  });

  it('a bare result (legacy) is not a cniCacheV1 entry', () => {
    expect(decodeCacheEntry('{"cniVersion":"0.3.1","ips":[]}')).toBeUndefined();
    expect(decodeCacheEntry('garbage')).toBeUndefined();
  });
});

describe('ResultCache', () => {
  it('writes <dir>/results/<net>-<cid>-<ifname> 0600 in a 0700 directory, reads and removes it', () => {
    const c = new ResultCache(dir);
    c.write(entry);
    const file = join(dir, 'results', 'mynet-ctr1-eth0');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'results')).mode & 0o777).toBe(0o700);
    expect(c.read('mynet', 'ctr1', 'eth0')).toBe(readFileSync(file, 'utf8'));
    c.remove('mynet', 'ctr1', 'eth0');
    expect(c.read('mynet', 'ctr1', 'eth0')).toBeUndefined();
    c.remove('mynet', 'ctr1', 'eth0');
    c.remove('', 'ctr1', 'eth0');
  });

  it("refuses a path without network, container id or ifname with libcni's message", () => {
    expect(() => new ResultCache(dir).path('n', '', 'eth0')).toThrow('cache file path requires network name ("n"), container ID (""), and interface name ("eth0")');
  });

  it('lists attachments as GetCachedAttachments: cniCacheV1 only, container filter by name and field', () => {
    const c = new ResultCache(dir);
    expect(c.attachments()).toEqual([]);
    c.write(entry);
    c.write({ ...entry, containerId: 'ctr2', networkName: 'other' });
    writeFileSync(join(dir, 'results', 'legacy-ctr3-eth0'), '{"cniVersion":"0.3.1"}');
    writeFileSync(join(dir, 'results', 'x-ctr1-eth9'), '{"kind":"cniCacheV1","containerId":"ctr1","ifName":"","networkName":"x"}');
    expect(c.attachments().map((a) => `${a.networkName}/${a.containerId}`)).toEqual(['mynet/ctr1', 'other/ctr2']);
    expect(c.attachments('ctr2').map((a) => a.networkName)).toEqual(['other']);
  });
});
