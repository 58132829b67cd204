/** The runtime library against a scripted plugin double (what libcni's api_test does with its noop plugin). */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawOutput } from '../../../lib/cni/invoke.ts';
import { buildOneConfig, CniConfig, confListFromBytes, type PluginExec, type RuntimeConf } from '../../../lib/runtime/index.ts';

interface Call {
  type: string;
  env: Record<string, string>;
  stdin: Record<string, unknown>;
}

let dir: string;
let calls: Call[];
let script: Record<string, (c: Call) => RawOutput>;

const ok = (stdout: unknown = ''): RawOutput => ({ exitCode: 0, stdout: typeof stdout === 'string' ? stdout : JSON.stringify(stdout), stderr: '' });
const err = (code: number, msg: string): RawOutput => ({ exitCode: 1, stdout: JSON.stringify({ code, msg }), stderr: '' });

const exec: PluginExec = {
  findInPath: (type) => {
    if (type === 'missing') throw new Error(`failed to find plugin "missing" in path [/opt/cni/bin]`);
    return `/opt/cni/bin/${type}`;
  },
  exec: (path, env, stdin) => {
    const c: Call = { type: path.split('/').pop()!, env, stdin: JSON.parse(stdin.toString()) as Record<string, unknown> };
    calls.push(c);
    const f = script[`${c.type}:${env['CNI_COMMAND']}`];
    return Promise.resolve(f === undefined ? ok() : f(c));
  },
};

const result = (ip: string, v = '1.0.0'): unknown => ({ cniVersion: v, interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: ip, interface: 0 }] });

const list = (v: string, plugins: unknown[], extra: object = {}): ReturnType<typeof confListFromBytes> => confListFromBytes(Buffer.from(JSON.stringify({ name: 'net', cniVersion: v, plugins, ...extra })));

const rt: RuntimeConf = { containerId: 'ctr1', netns: '/run/netns/x', ifName: 'eth0', args: [['K8S_POD_NAME', 'p'], ['IgnoreUnknown', '1']], capabilityArgs: { portMappings: [{ hostPort: 80 }], mac: 'aa' } };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rt-api-'));
  calls = [];
  script = {
    'a:ADD': () => ok(result('10.0.0.2/24')),
    'b:ADD': (c) => ok(c.stdin['prevResult']),
  };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cni = (): CniConfig => new CniConfig({ paths: ['/opt/cni/bin', '/usr/lib/cni'], cacheDir: dir, baseEnv: { PATH: '/bin', CNI_COMMAND: 'stale' }, exec });

describe('ADD', () => {
  it('runs in order, first without prevResult, then with the previous result; runtimeConfig = declared ∩ supplied', async () => {
    const l = list('1.0.0', [{ type: 'a', capabilities: { portMappings: true, bandwidth: true } }, { type: 'b', runtimeConfig: { keep: 1 } }]);
    const r = await cni().addNetworkList(l, rt);
    expect(calls.map((c) => c.type)).toEqual(['a', 'b']);
    expect(calls[0]!.stdin['prevResult']).toBeUndefined();
    expect(calls[0]!.stdin['runtimeConfig']).toEqual({ portMappings: [{ hostPort: 80 }] });
    expect(calls[1]!.stdin['prevResult']).toEqual(JSON.parse(JSON.stringify(result('10.0.0.2/24'))));
    // no declared capability matched: a static runtimeConfig stays
    expect(calls[1]!.stdin['runtimeConfig']).toEqual({ keep: 1 });
    expect(calls[0]!.stdin['name']).toBe('net');
    expect(r['ips']).toEqual([{ address: '10.0.0.2/24', interface: 0 }]);
  });

  it('sets the CNI variables over the base environment, CNI_ARGS joined in caller order', async () => {
    await cni().addNetworkList(list('1.0.0', [{ type: 'a' }]), rt);
    expect(calls[0]!.env).toEqual({
      PATH: '/bin',
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'ctr1',
      CNI_NETNS: '/run/netns/x',
      CNI_ARGS: 'K8S_POD_NAME=p;IgnoreUnknown=1',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    });
  });

  it('a failing plugin: libcni wording, the code kept, nothing cached, no DEL issued', async () => {
    script['b:ADD'] = () => err(11, 'busy');
    const l = list('1.0.0', [{ type: 'a' }, { type: 'b', name: 'bee' }]);
    await expect(cni().addNetworkList(l, rt)).rejects.toMatchObject({ message: 'plugin type="b" name="bee" failed (add): busy', code: 11 });
    expect(calls.map((c) => `${c.type}:${c.env['CNI_COMMAND']}`)).toEqual(['a:ADD', 'b:ADD']);
    expect(existsSync(join(dir, 'results', 'net-ctr1-eth0'))).toBe(false);
  });

  it('validates container id, network name and ifname as libcni (ADD only)', async () => {
    const l = list('1.0.0', [{ type: 'a' }]);
    await expect(cni().addNetworkList(l, { ...rt, containerId: 'bad id' })).rejects.toThrow('plugin type="a" failed (add): invalid characters in containerID; bad id');
    await expect(cni().addNetworkList(l, { ...rt, ifName: 'a/b' })).rejects.toThrow('interface name contains / or : or whitespace characters');
    await expect(cni().addNetworkList(l, { ...rt, ifName: '' })).rejects.toThrow('interface name is empty');
    await expect(cni().addNetworkList(list('1.0.0', [{ type: 'missing' }]), rt)).rejects.toThrow('plugin type="missing" failed (add): failed to find plugin');
    const unnamed = confListFromBytes(Buffer.from(JSON.stringify({ name: '', cniVersion: '1.0.0', plugins: [{ type: 'a' }] })));
    await expect(cni().addNetworkList(unnamed, rt)).rejects.toMatchObject({ message: 'plugin type="a" failed (add): missing network name:', code: 7 });
    const badName = confListFromBytes(Buffer.from(JSON.stringify({ name: 'a b', cniVersion: '1.0.0', plugins: [{ type: 'a' }] })));
    await expect(cni().addNetworkList(badName, rt)).rejects.toThrow('plugin type="a" failed (add): invalid characters found in network name; a b');
    expect(calls).toEqual([]);
  });

  it('stamps a result without cniVersion with the config version', async () => {
    script['a:ADD'] = () => ok({ ips: [{ address: '10.0.0.2/24', version: '4' }] });
    const r = await cni().addNetworkList(list('0.4.0', [{ type: 'a' }]), rt);
    expect(r['cniVersion']).toBe('0.4.0');
  });
});

describe('DEL and CHECK', () => {
  it('DEL runs in reverse with the cached result converted to the list version, then drops the cache', async () => {
    const l = list('1.0.0', [{ type: 'a' }, { type: 'b' }]);
    await cni().addNetworkList(l, rt);
    calls = [];
    await cni().delNetworkList(l, rt);
    expect(calls.map((c) => `${c.type}:${c.env['CNI_COMMAND']}`)).toEqual(['b:DEL', 'a:DEL']);
    expect(calls[0]!.stdin['prevResult']).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', interface: 0 }] });
    expect(existsSync(join(dir, 'results', 'net-ctr1-eth0'))).toBe(false);
  });

  it('DEL below 0.4.0 sends no prevResult; a corrupt cache is dropped and DEL goes on', async () => {
    mkdirSync(join(dir, 'results'), { recursive: true });
    writeFileSync(join(dir, 'results', 'net-ctr1-eth0'), '{"kind":"cniCacheV1","result":{"cniVersion":"7.0.0"}}');
    await cni().delNetworkList(list('1.0.0', [{ type: 'a' }]), rt);
    expect(calls[0]!.stdin['prevResult']).toBeUndefined();
    expect(existsSync(join(dir, 'results', 'net-ctr1-eth0'))).toBe(false);
    calls = [];
    await cni().delNetworkList(list('0.3.1', [{ type: 'a' }]), rt);
    expect(calls[0]!.stdin['prevResult']).toBeUndefined();
  });

  it('a failing DEL keeps the cache', async () => {
    const l = list('1.0.0', [{ type: 'a' }]);
    await cni().addNetworkList(l, rt);
    script['a:DEL'] = () => err(999, 'nope');
    await expect(cni().delNetworkList(l, rt)).rejects.toThrow('plugin type="a" failed (delete): nope');
    expect(existsSync(join(dir, 'results', 'net-ctr1-eth0'))).toBe(true);
  });

  it('CHECK: refused below 0.4.0, skipped with disableCheck, forward with the cached result, first error unwrapped', async () => {
    await expect(cni().checkNetworkList(list('0.3.1', [{ type: 'a' }]), rt)).rejects.toThrow('configuration version "0.3.1" does not support the CHECK command');
    await cni().checkNetworkList(list('1.0.0', [{ type: 'a' }], { disableCheck: true }), rt);
    expect(calls).toEqual([]);
    const l = list('1.0.0', [{ type: 'a' }, { type: 'b' }]);
    await cni().addNetworkList(l, rt);
    calls = [];
    script['b:CHECK'] = () => err(7, 'bad');
    await expect(cni().checkNetworkList(l, rt)).rejects.toMatchObject({ message: 'bad', code: 7 });
    expect(calls.map((c) => c.type)).toEqual(['a', 'b']);
    expect(calls[0]!.stdin['prevResult']).toMatchObject({ ips: [{ address: '10.0.0.2/24' }] });
  });

  it('reads a legacy bare-result cache file', async () => {
    mkdirSync(join(dir, 'results'), { recursive: true });
    writeFileSync(join(dir, 'results', 'net-ctr1-eth0'), JSON.stringify(result('10.0.0.9/24', '0.4.0')));
    await cni().checkNetworkList(list('1.0.0', [{ type: 'a' }]), rt);
    expect(calls[0]!.stdin['prevResult']).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.9/24' }] });
  });
});

describe('GC and STATUS', () => {
  it('GC: DEL of cached attachments not listed (with their cached args), then GC to every plugin with both keys', async () => {
    const l = list('1.1.0', [{ type: 'a' }]);
    await cni().addNetworkList(l, rt);
    await cni().addNetworkList(l, { ...rt, containerId: 'ctr2', args: [['X', 'y']] });
    calls = [];
    await cni().gcNetworkList(l, [{ containerID: 'ctr1', ifname: 'eth0' }]);
    expect(calls.map((c) => `${c.env['CNI_COMMAND']}:${c.env['CNI_CONTAINERID']}`)).toEqual(['DEL:ctr2', 'GC:']);
    expect(calls[0]!.env['CNI_ARGS']).toBe('X=y');
    expect(calls[1]!.stdin['cni.dev/valid-attachments']).toEqual([{ containerID: 'ctr1', ifname: 'eth0' }]);
    expect(calls[1]!.stdin['cni.dev/attachments']).toEqual([{ containerID: 'ctr1', ifname: 'eth0' }]);
    expect(calls[1]!.env['CNI_IFNAME']).toBe('');
  });

  it('GC with no valid list (cnitool) deletes every cached attachment; errors are collected', async () => {
    const l = list('1.1.0', [{ type: 'a' }]);
    await cni().addNetworkList(l, rt);
    calls = [];
    script['a:GC'] = () => err(999, 'gc broke');
    await expect(cni().gcNetworkList(l, undefined)).rejects.toThrow('failed to GC plugin a: gc broke');
    expect(calls.map((c) => c.env['CNI_COMMAND'])).toEqual(['DEL', 'GC']);
    expect(calls[1]!.stdin['cni.dev/valid-attachments']).toBeUndefined();
  });

  it('STATUS: nothing below 1.1.0; else in order, the first error unwrapped with its code', async () => {
    await cni().statusNetworkList(list('1.0.0', [{ type: 'a' }]));
    expect(calls).toEqual([]);
    script['a:STATUS'] = () => err(50, 'not ready');
    await expect(cni().statusNetworkList(list('1.1.0', [{ type: 'a' }, { type: 'b' }]))).rejects.toMatchObject({ message: 'not ready', code: 50 });
    expect(calls.map((c) => c.type)).toEqual(['a']);
  });

  it('VERSION: supportedVersions, and exact-match validation of the list', async () => {
    script['a:VERSION'] = () => ok({ cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0'] });
    expect((await cni().versionInfo('a')).supportedVersions).toEqual(['0.4.0', '1.0.0']);
    await cni().validateNetworkList(list('1.0.0', [{ type: 'a' }]));
    await expect(cni().validateNetworkList(list('1.1.0', [{ type: 'a' }]))).rejects.toThrow('plugin a does not support config version "1.1.0"');
  });
});

describe('buildOneConfig', () => {
  it('is the plugin object as a Go map with name/cniVersion/prevResult injected, keys sorted, HTML escaped', () => {
    const l = list('1.0.0', [{ type: 'a', z: '<', capabilities: { mac: true } }]);
    const text = buildOneConfig('net', '1.0.0', l.plugins[0]!, { cniVersion: '1.0.0', ips: [] }, rt).toString();
    expect(text).toBe('{"capabilities":{"mac":true},"cniVersion":"1.0.0","name":"net","prevResult":{"cniVersion":"1.0.0","ips":[]},"runtimeConfig":{"mac":"aa"},"type":"a","z":"\\u003c"}');
  });
});
