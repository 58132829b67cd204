/**
 * flannel's commands through the real protocol layer, with a fake delegate:
 * what is saved and when, what the delegate gets for each command, codes and
 * messages, and the cases where we deliberately do better than the reference
 * (DEL that keeps the saved config until the delegate succeeded, DEL without
 * a saved config, Multus, upgrade from the Go plugin's files, CHECK, STATUS, GC).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Harness, IPV4_ENV, bridgeResult, fail, ok } from './harness.ts';

let h: Harness;
beforeEach(() => {
  h = new Harness();
});
afterEach(() => h.cleanup());

/** The data directory without the boot marker (lib/boot.ts). */
const names = () => readdirSync(h.dataDir).filter((n) => n !== '.cni-ts-boot-id');
/** Where an attachment's config is saved: a container's first one under the reference's name, further ones keyed by interface. */
const saved = (cid = 'ctr1', ifName = 'eth0') => join(h.dataDir, ifName === 'eth0' ? cid : `${cid}:${ifName}`);

describe('ADD', () => {
  it('saves the rendered config (0600, in a 0700 dir) before delegating, sends exactly those bytes, prints the result', async () => {
    let existedDuringAdd = false;
    h.during = (c) => {
      // the reference's format, plus the key naming the interface (the delegate is given the config without it)
      // (keys sorted as Go marshals a map)
      existedDuringAdd = existsSync(saved()) && readFileSync(saved(), 'utf8') === c.stdin.replace(/^\{/, '{"cni-ts.ifName":"eth0",');
    };
    const r = await h.run('ADD', h.conf());
    expect(r.code).toBe(0);
    expect(existedDuringAdd).toBe(true);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]).toMatchObject({ command: 'ADD', type: 'bridge' });
    expect(h.calls[0]?.conf).toEqual({
      cniVersion: '1.0.0',
      hairpinMode: true,
      ipMasq: false,
      ipam: { ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }], type: 'host-local' },
      isDefaultGateway: true,
      isGateway: true,
      mtu: 1450,
      name: 'cbr0',
      type: 'bridge',
    });
    expect(statSync(saved()).mode & 0o777).toBe(0o600);
    expect(statSync(h.dataDir).mode & 0o777).toBe(0o700);
    expect(r.json).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 }] });
    expect(names()).toEqual(['ctr1']);
  });

  it('passes the same environment to the delegate, only CNI_COMMAND set', async () => {
    await h.run('ADD', h.conf(), { env: { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' } });
    expect(h.calls[0]?.env).toMatchObject({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ctr1', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p', CNI_PATH: h.binDir });
  });

  it.each(['0.3.1', '0.4.0', '1.0.0', '1.1.0'])('prints the result in the config version %s', async (v) => {
    const r = await h.run('ADD', h.conf({ cniVersion: v }));
    expect(r.code).toBe(0);
    expect(r.json?.['cniVersion']).toBe(v);
  });

  it('missing subnet.env: code 11 (try again later), the reference message, and why', async () => {
    rmSync(h.subnetFile);
    const r = await h.run('ADD', h.conf());
    expect(r.code).toBe(1);
    expect(r.json).toEqual({
      code: 11,
      msg: `failed to load flannel 'subnet.env' file: open ${h.subnetFile}: no such file or directory. Check the flannel pod log for this node.`,
      details: "flanneld has not written this node's subnet lease yet (is the flannel pod running on this node?); try again later",
    });
    expect(h.calls).toHaveLength(0);
    expect(existsSync(h.dataDir)).toBe(false);
  });

  it('incomplete subnet.env: code 11 naming the file and every missing key', async () => {
    writeFileSync(h.subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\n');
    const r = await h.run('ADD', h.conf());
    expect(r.json).toMatchObject({
      code: 11,
      msg: `failed to load flannel 'subnet.env' file: ${h.subnetFile} is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ. Check the flannel pod log for this node.`,
    });
  });

  it('a malformed subnet.env is not "try again": code 6 naming the line, no stack', async () => {
    writeFileSync(h.subnetFile, IPV4_ENV.replace('1450', 'lots'));
    const r = await h.run('ADD', h.conf());
    expect(r.stderr).toBe('');
    expect(r.json).toMatchObject({ code: 6, details: expect.stringContaining('is written by flanneld') as unknown, msg: expect.stringContaining(`${h.subnetFile} line 3: FLANNEL_MTU: invalid number "lots"`) as unknown });
  });

  it('a delegate failure keeps its code, is prefixed "failed to delegate add", and keeps the saved config for the DEL that follows', async () => {
    h.respond = () => fail(11, 'failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254');
    const r = await h.run('ADD', h.conf());
    expect(r.json).toEqual({ code: 11, msg: 'failed to delegate add: failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254' });
    expect(existsSync(saved())).toBe(true);
  });

  it('the bridge still has the gateway of an earlier lease (flannel#1850): the details name the stale address, the new lease and both fixes', async () => {
    h.respond = () =>
      fail(
        999,
        'failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24',
        `cni0 has 10.244.9.1/24, this network's gateway is 10.244.1.1/24 (the node's pod subnet changed?); remove the old address or set "forceAddress": true`,
      );
    const r = await h.run('ADD', h.conf());
    expect(r.json).toEqual({
      code: 999,
      msg: 'failed to delegate add: failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24',
      details:
        `cni0 still has 10.244.9.1/24, the gateway of an earlier lease, but flanneld's lease for this node is now 10.244.1.0/24 (${h.subnetFile}). ` +
        'Fix: set "forceAddress": true in this flannel config\'s "delegate" (k3s does) so that the bridge moves to 10.244.1.1/24 ' +
        '(pods still on the old subnet lose their network and must be re-created), or remove 10.244.9.1/24 from cni0 (ip addr del 10.244.9.1/24 dev cni0) and re-create those pods (flannel-io/flannel#1850)',
    });
  });

  it('the same error from a delegate that does not name the old address (the Go bridge): the fixes without it', async () => {
    h.respond = () => fail(999, 'failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24');
    const r = await h.run('ADD', h.conf());
    const details = String(r.json?.['details']);
    expect(details).toContain("the bridge still has the gateway address of an earlier lease, but flanneld's lease for this node is now 10.244.1.0/24");
    expect(details).toContain('"forceAddress": true in this flannel config\'s "delegate"');
    expect(details).toContain('remove the old address from the bridge');
  });

  it('a delegate missing from CNI_PATH: the reference message naming the path', async () => {
    const r = await h.run('ADD', h.conf({ delegate: { type: 'macvlan' } }));
    expect(r.json).toMatchObject({ msg: `failed to delegate add: failed to find plugin "macvlan" in path [${h.binDir}]` });
  });

  it('an invalid delegate is code 7 and nothing is saved', async () => {
    const r = await h.run('ADD', h.conf({ delegate: { name: 'x' } }));
    expect(r.json).toMatchObject({ code: 7, msg: "'delegate' dictionary must not have 'name' field, it'll be set by flannel" });
    expect(existsSync(h.dataDir)).toBe(false);
  });

  it('two flannel attachments of one pod (Multus) get two saved files', async () => {
    await h.run('ADD', h.conf(), { ifName: 'eth0' });
    await h.run('ADD', h.conf({ name: 'cbr1' }), { ifName: 'net1' });
    expect(names().sort()).toEqual(['ctr1', 'ctr1:net1']);
    expect(JSON.parse(readFileSync(saved('ctr1', 'net1'), 'utf8'))).toMatchObject({ name: 'cbr1' });
  });
});

describe('ADD: where the config is saved, and a repeated ADD', () => {
  it("the first attachment takes the reference's <containerID> name, further ones their keyed name, ids unusable as names a hashed one", async () => {
    await h.run('ADD', h.conf(), { ifName: 'net1' });
    await h.run('ADD', h.conf(), { ifName: 'eth0' });
    expect(names().sort()).toEqual(['ctr1', 'ctr1:eth0']);
    expect(JSON.parse(readFileSync(join(h.dataDir, 'ctr1'), 'utf8'))).toMatchObject({ 'cni-ts.ifName': 'net1', name: 'cbr0' });
    const long = 'l'.repeat(300);
    expect((await h.run('ADD', h.conf(), { containerId: long })).code).toBe(0);
    expect(names().filter((n) => n.startsWith('+'))).toEqual([expect.stringMatching(/^\+[0-9a-f]{64}:eth0$/) as unknown]);
  });

  it("a Go flannel's file for the container (no interface key) is left to it: ours goes beside it", async () => {
    mkdirSync(h.dataDir, { recursive: true });
    const goSaved = '{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","ipam":{}}';
    writeFileSync(join(h.dataDir, 'ctr1'), goSaved);
    expect((await h.run('ADD', h.conf())).code).toBe(0);
    expect(readFileSync(join(h.dataDir, 'ctr1'), 'utf8')).toBe(goSaved);
    expect(existsSync(join(h.dataDir, 'ctr1:eth0'))).toBe(true);
  });

  it('a failed repeated ADD leaves the running attachment\'s saved config as it was (bytes and all)', async () => {
    await h.run('ADD', h.conf());
    const before = readFileSync(saved());
    h.respond = () => fail(999, 'container veth name provided (eth0) already exists');
    writeFileSync(h.subnetFile, IPV4_ENV.replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1400')); // a config that differs
    const r = await h.run('ADD', h.conf());
    expect(r.json).toMatchObject({ code: 999 });
    expect(readFileSync(saved()).equals(before)).toBe(true);
    expect(names()).toEqual(['ctr1']);
  });

  it('a repeated ADD that succeeds (the first was killed before its delegate ran) saves the config it delegated', async () => {
    await h.run('ADD', h.conf());
    writeFileSync(h.subnetFile, IPV4_ENV.replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1400'));
    expect((await h.run('ADD', h.conf())).code).toBe(0);
    expect(JSON.parse(readFileSync(saved(), 'utf8'))).toMatchObject({ mtu: 1400, 'cni-ts.ifName': 'eth0' });
    expect(names()).toEqual(['ctr1']);
  });
});

describe("ADD: a delegate's answer that is no success", () => {
  it('an error object printed with exit status 0 is that error (its code), not a result', async () => {
    h.respond = (c) => (c.command === 'ADD' ? { exitCode: 0, stdout: JSON.stringify({ code: 11, msg: 'host-local: lock busy', details: 'd' }), stderr: '' } : ok());
    const r = await h.run('ADD', h.conf());
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ code: 11, msg: 'failed to delegate add: host-local: lock busy', details: 'd' });
  });

  it('a result without IP addresses is code 999, and the delegate ADD is undone (DEL) with its saved config', async () => {
    h.respond = (c) => (c.command === 'ADD' ? { exitCode: 0, stdout: JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }), stderr: '' } : ok());
    const r = await h.run('ADD', h.conf());
    expect(r.json).toMatchObject({ code: 999, msg: 'failed to delegate add: plugin "bridge" returned no IP addresses' });
    expect(h.calls.map((c) => c.command)).toEqual(['ADD', 'DEL']);
    expect(h.calls[1]?.stdin).toBe(h.calls[0]?.stdin);
    expect(names()).toEqual([]);
  });

  it('an error object printed with exit 0 by a DEL is a failed DEL: the saved config stays for the retry', async () => {
    await h.run('ADD', h.conf());
    h.respond = () => ({ exitCode: 0, stdout: JSON.stringify({ code: 999, msg: 'teardown failed' }), stderr: '' });
    const r = await h.run('DEL', h.conf());
    expect(r.json).toEqual({ code: 999, msg: 'failed to delegate del: teardown failed' });
    expect(names()).toEqual(['ctr1']);
  });
});

describe('DEL', () => {
  it('delegates DEL with the saved (ADD-time) config and removes it after the delegate succeeded', async () => {
    await h.run('ADD', h.conf());
    const bytes = h.calls[0]?.stdin;
    writeFileSync(h.subnetFile, IPV4_ENV.replace('10.244.1.1/24', '10.244.7.1/24')); // a new lease must not matter
    const r = await h.run('DEL', h.conf());
    expect(r.code).toBe(0);
    expect(h.calls[1]).toMatchObject({ command: 'DEL', type: 'bridge', stdin: bytes });
    expect(existsSync(saved())).toBe(false);
  });

  it('keeps the saved config when the delegate DEL fails (the reference drops it and leaks the lease), and a retry then succeeds', async () => {
    await h.run('ADD', h.conf());
    h.respond = () => fail(11, 'host-local: lock timeout');
    const r1 = await h.run('DEL', h.conf());
    expect(r1.json).toEqual({ code: 11, msg: 'failed to delegate del: host-local: lock timeout' });
    expect(existsSync(saved())).toBe(true);
    h.respond = () => ok();
    const r2 = await h.run('DEL', h.conf());
    expect(r2.code).toBe(0);
    expect(h.calls.map((c) => c.command)).toEqual(['ADD', 'DEL', 'DEL']);
    expect(h.calls[2]?.conf['ipam']).toMatchObject({ ranges: [[{ subnet: '10.244.1.0/24' }]] });
    expect(existsSync(saved())).toBe(false);
  });

  it('without a saved config still asks the delegate, with the config rebuilt from the current subnet.env; repeated DELs succeed', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await h.run('DEL', h.conf());
      expect(r.code).toBe(0);
    }
    expect(h.calls.map((c) => c.command)).toEqual(['DEL', 'DEL']);
    expect(h.calls[0]?.conf).toMatchObject({ name: 'cbr0', type: 'bridge', ipam: { ranges: [[{ subnet: '10.244.1.0/24' }]] } });
  });

  it('without a saved config a failing rebuilt DEL is an error (something may be left)', async () => {
    h.respond = () => fail(999, 'boom');
    const r = await h.run('DEL', h.conf());
    expect(r.json).toMatchObject({ code: 999, msg: expect.stringMatching(/^failed to delegate del \(no saved config; rebuilt from .*subnet\.env: .*\): boom$/) as unknown });
  });

  it('without a saved config and without subnet.env succeeds quietly (nothing can be named)', async () => {
    rmSync(h.subnetFile);
    const r = await h.run('DEL', h.conf());
    expect(r.code).toBe(0);
    expect(h.calls).toHaveLength(0);
    expect(r.stderr).toBe('');
  });

  it("reads and removes the reference's <dataDir>/<containerID> file (a node upgraded from the Go plugin)", async () => {
    mkdirSync(h.dataDir, { recursive: true });
    const goSaved = '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.9.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}';
    writeFileSync(join(h.dataDir, 'ctr1'), goSaved);
    const r = await h.run('DEL', h.conf({ cniVersion: '0.3.1' }));
    expect(r.code).toBe(0);
    expect(h.calls[0]).toMatchObject({ command: 'DEL', stdin: goSaved });
    expect(existsSync(join(h.dataDir, 'ctr1'))).toBe(false);
  });

  it("leaves a Go-era file of another network alone and rebuilds instead", async () => {
    mkdirSync(h.dataDir, { recursive: true });
    writeFileSync(join(h.dataDir, 'ctr1'), '{"name":"other","type":"bridge","ipam":{}}');
    await h.run('DEL', h.conf());
    expect(h.calls[0]?.conf).toMatchObject({ name: 'cbr0' });
    expect(existsSync(join(h.dataDir, 'ctr1'))).toBe(true);
  });

  it('a corrupt saved file: rebuilds, delegates, then removes it', async () => {
    mkdirSync(h.dataDir, { recursive: true });
    writeFileSync(saved(), '{"half');
    const r = await h.run('DEL', h.conf());
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(h.calls[0]?.conf).toMatchObject({ name: 'cbr0' });
    expect(existsSync(saved())).toBe(false);
  });

  it('Multus: deleting one attachment leaves the other saved', async () => {
    await h.run('ADD', h.conf(), { ifName: 'eth0' });
    await h.run('ADD', h.conf({ name: 'cbr1' }), { ifName: 'net1' });
    await h.run('DEL', h.conf(), { ifName: 'eth0' });
    expect(names()).toEqual(['ctr1:net1']);
  });

  it("passes the runtime's prevResult on to the delegate, in the saved config's version", async () => {
    await h.run('ADD', h.conf());
    const prev = JSON.parse(bridgeResult('1.0.0').stdout) as unknown;
    await h.run('DEL', h.conf({ prevResult: prev }));
    expect(h.calls[1]?.conf['prevResult']).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.244.1.2/24' }] });
    expect(h.calls[1]?.conf['cniVersion']).toBe('1.0.0');
  });

  it('does not fail on an invalid delegate in the DEL config when the saved one is there', async () => {
    await h.run('ADD', h.conf());
    const r = await h.run('DEL', h.conf({ delegate: { name: 'oops' } }));
    expect(r.code).toBe(0);
    expect(existsSync(saved())).toBe(false);
  });
});

describe('CHECK', () => {
  it("delegates CHECK with the saved config and the runtime's prevResult", async () => {
    await h.run('ADD', h.conf());
    const prev = JSON.parse(bridgeResult('1.0.0').stdout) as unknown;
    const r = await h.run('CHECK', h.conf({ prevResult: prev }));
    expect(r.code).toBe(0);
    expect(h.calls[1]).toMatchObject({ command: 'CHECK', type: 'bridge' });
    expect(h.calls[1]?.conf).toMatchObject({ name: 'cbr0', mtu: 1450, prevResult: prev, ipam: { ranges: [[{ subnet: '10.244.1.0/24' }]] } });
  });

  it("passes the delegate's CHECK error up", async () => {
    await h.run('ADD', h.conf());
    h.respond = () => fail(999, 'Interface name eth0 not found');
    const r = await h.run('CHECK', h.conf({ prevResult: JSON.parse(bridgeResult('1.0.0').stdout) as unknown }));
    expect(r.json).toEqual({ code: 999, msg: 'failed to delegate check: Interface name eth0 not found' });
  });

  it('errors (code 3) when there is no saved config', async () => {
    const r = await h.run('CHECK', h.conf());
    expect(r.json).toMatchObject({ code: 3, msg: expect.stringContaining('no saved delegate config for container ctr1 interface eth0') as unknown });
    expect(h.calls).toHaveLength(0);
  });

  it("errors when the node's subnet changed under the pod", async () => {
    await h.run('ADD', h.conf());
    writeFileSync(h.subnetFile, IPV4_ENV.replace('10.244.1.1/24', '10.244.7.1/24'));
    const r = await h.run('CHECK', h.conf());
    expect(r.json).toMatchObject({ msg: expect.stringContaining("given an address from 10.244.1.0/24 but the node's subnet is now 10.244.7.0/24") as unknown });
  });

  it('is refused below 0.4.0 by the protocol layer', async () => {
    const r = await h.run('CHECK', h.conf({ cniVersion: '0.3.1' }));
    expect(r.json).toMatchObject({ code: 1, msg: 'config version does not allow CHECK' });
  });
});

describe('STATUS', () => {
  it('is code 50 while subnet.env is missing (the reference says ready)', async () => {
    rmSync(h.subnetFile);
    const r = await h.run('STATUS', h.conf({ cniVersion: '1.1.0' }));
    expect(r.json).toMatchObject({ code: 50, msg: expect.stringContaining("failed to load flannel 'subnet.env' file") as unknown });
    expect(h.calls).toHaveLength(0);
  });

  it('is code 50 while subnet.env is incomplete or malformed', async () => {
    writeFileSync(h.subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\n');
    expect((await h.run('STATUS', h.conf({ cniVersion: '1.1.0' }))).json).toMatchObject({ code: 50 });
    writeFileSync(h.subnetFile, IPV4_ENV.replace('10.244.1.1/24', 'x'));
    expect((await h.run('STATUS', h.conf({ cniVersion: '1.1.0' }))).json).toMatchObject({ code: 50 });
  });

  it("then is the delegate's STATUS, with the config ADD would send", async () => {
    expect((await h.run('STATUS', h.conf({ cniVersion: '1.1.0' }))).code).toBe(0);
    expect(h.calls[0]).toMatchObject({ command: 'STATUS', type: 'bridge', conf: { cniVersion: '1.1.0', name: 'cbr0', ipam: { type: 'host-local' } } });
    h.respond = () => fail(51, 'bridge: not ready');
    expect((await h.run('STATUS', h.conf({ cniVersion: '1.1.0' }))).json).toEqual({ code: 51, msg: 'failed to delegate status: bridge: not ready' });
  });
});

describe('GC', () => {
  const valid = (...a: [string, string][]) => ({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': a.map(([containerID, ifname]) => ({ containerID, ifname })) });

  async function addThree(): Promise<void> {
    await h.run('ADD', h.conf({ cniVersion: '1.1.0' }), { containerId: 'a' });
    await h.run('ADD', h.conf({ cniVersion: '1.1.0' }), { containerId: 'b' });
    await h.run('ADD', h.conf({ cniVersion: '1.1.0', name: 'other' }), { containerId: 'c' });
    mkdirSync(h.dataDir, { recursive: true });
    writeFileSync(join(h.dataDir, 'd'), JSON.stringify({ name: 'cbr0', type: 'bridge' })); // a Go-era file
    h.calls.length = 0;
  }

  it('forwards GC with the valid list, then removes saved configs of attachments not in it (this network only)', async () => {
    await addThree();
    const r = await h.run('GC', h.conf(valid(['a', 'eth0'])));
    expect(r.code).toBe(0);
    expect(h.calls).toHaveLength(1);
    expect(h.calls[0]).toMatchObject({ command: 'GC', type: 'bridge', conf: { name: 'cbr0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] } });
    expect(names().sort()).toEqual(['a', 'c']);
  });

  it('keeps a Go-era file when its container is still valid', async () => {
    await addThree();
    await h.run('GC', h.conf(valid(['d', 'eth0'])));
    expect(names().sort()).toEqual(['c', 'd']);
  });

  it('removes nothing when the delegate GC failed (its leases are still held) and reports the error', async () => {
    await addThree();
    h.respond = () => fail(999, 'gc failed');
    const r = await h.run('GC', h.conf(valid()));
    expect(r.json).toEqual({ code: 999, msg: 'failed to delegate gc: gc failed' });
    expect(names().sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('removes nothing without a valid-attachments list (cnitool sends none)', async () => {
    await addThree();
    expect((await h.run('GC', h.conf({ cniVersion: '1.1.0' }))).code).toBe(0);
    expect(names()).toHaveLength(4);
  });

  it('accepts the 1.1.0 text key cni.dev/attachments', async () => {
    await addThree();
    await h.run('GC', h.conf({ cniVersion: '1.1.0', 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth0' }] }));
    expect(names().sort()).toEqual(['b', 'c']);
  });

  it('without subnet.env forwards GC with the newest saved config of the network', async () => {
    await addThree();
    rmSync(h.subnetFile);
    const r = await h.run('GC', h.conf(valid(['a', 'eth0'])));
    expect(r.code).toBe(0);
    expect(h.calls[0]?.conf).toMatchObject({ name: 'cbr0', ipam: { ranges: [[{ subnet: '10.244.1.0/24' }]] }, 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] });
  });

  it('removes temporary files a crashed ADD left behind (older than 10 minutes), not fresh ones', async () => {
    await addThree();
    writeFileSync(join(h.dataDir, '.tmp-old:eth0-1'), '{');
    writeFileSync(join(h.dataDir, '.tmp-new:eth0-2'), '{');
    const old = (Date.now() - 3600_000) / 1000;
    utimesSync(join(h.dataDir, '.tmp-old:eth0-1'), old, old);
    await h.run('GC', h.conf(valid(['a', 'eth0'], ['b', 'eth0'], ['d', 'eth0'])));
    expect(names().sort()).toEqual(['.tmp-new:eth0-2', 'a', 'b', 'c', 'd']);
  });

  it('refuses a malformed valid list before touching anything (code 7)', async () => {
    await addThree();
    const r = await h.run('GC', h.conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a' }] }));
    expect(r.json).toMatchObject({ code: 7 });
    expect(names()).toHaveLength(4);
  });
});
