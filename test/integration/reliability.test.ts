/**
 * Issue 9's fixes, each with the answer (code, message), the time bound and
 * the state left: the per-invocation deadline (a delegate that never answers;
 * the native watchdog when the main thread is stuck), long container ids
 * (bridge's iptables comment, flannel's saved file), a DEL that must not
 * remove another pod's interface, quiet stderr on repeated DEL and DEL after
 * the namespace is gone, and a temporary of a killed flannel removed by GC.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN_DIR, ROOT } from '../helpers/exec.ts';
import { NetnsEnv, type TestNetns, ip, ipJson, isRoot, leftoverTestNetns } from '../helpers/netns.ts';
import { TestNode, hasStack, isCniError } from '../helpers/reliability.ts';
import { diff, snapshot } from '../helpers/snapshot.ts';

let env: NetnsEnv;
let t: TestNode;

beforeEach(() => {
  expect(isRoot(), 'needs root (network namespaces)').toBe(true);
  env = new NetnsEnv();
  t = new TestNode(env.netns());
});

afterEach(() => {
  try {
    env.cleanup();
  } finally {
    t.cleanup();
  }
});

afterAll(() => {
  expect(leftoverTestNetns()).toEqual([]);
});

function iptablesSave(): string {
  return execFileSync('ip', ['netns', 'exec', t.node.name, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).replace(/^#.*\n/gm, '');
}

describe('the per-invocation deadline', () => {
  it('a delegate that never answers: code 11 within the bound, and the delegate is killed', async () => {
    const bin = join(t.dir, 'hang');
    mkdirSync(bin);
    symlinkSync(join(t.bin, 'flannel'), join(bin, 'flannel'));
    const marker = `${t.dir}/hung-delegate`;
    writeFileSync(join(bin, 'bridge'), `#!/bin/sh\necho $$ > ${marker}\nexec sleep 600\n`);
    chmodSync(join(bin, 'bridge'), 0o755);
    const pod = env.netns();
    const r = await t.run('flannel', t.env('ADD', pod, 'hung', { CNI_PATH: bin, CNI_TS_DEADLINE_MS: '1500' }), JSON.stringify(t.conf('flannel')));
    expect(r.ms).toBeGreaterThanOrEqual(1400);
    expect(r.ms).toBeLessThan(4000);
    expect(r.code).toBe(1);
    expect(r.json).toEqual({
      code: 11,
      msg: 'flannel ADD did not finish within 1500 ms',
      details: 'a delegate, a lock or the kernel did not answer in time; nothing more will be done by this invocation: retry it (DEL releases whatever it left)',
    });
    const pid = Number(execFileSync('cat', [marker], { encoding: 'utf8' }).trim());
    // gone, or a zombie waiting for whoever inherited it to reap it
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
    expect(stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')'))), `the hung delegate was killed: ${stat}`).toBe(true);
  });

  it('the native watchdog answers even when the main thread never yields', () => {
    const addon = join(ROOT, 'build', 'cni_native.node');
    const script = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)}); m.exports.watchdogArm(300, '{"code":11,"msg":"stuck"}'); for (;;) {}`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ code: 11, msg: 'stuck' });
  });

  it('disarmed, the watchdog lets the process finish on its own', () => {
    const addon = join(ROOT, 'build', 'cni_native.node');
    const script = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)}); m.exports.watchdogArm(200, 'late'); m.exports.watchdogDisarm(); setTimeout(() => process.stdout.write('done'), 400);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('done');
  });
});

/** Holds an exclusive flock on `path` from another process (util-linux flock, tests only) until killed. */
async function holdLock(path: string): Promise<{ pid: number; release(): void }> {
  const child = spawn('flock', ['-x', path, 'sleep', '120'], { stdio: 'ignore', detached: true });
  const pid = child.pid ?? -1;
  // wait (bounded) until the kernel lists the lock as this process's
  for (let i = 0; i < 200; i++) {
    if (readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes(' FLOCK ') && l.split(/\s+/)[4] === String(pid))) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    pid,
    release: () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

describe('a lock that cannot be had', () => {
  it("bridge ADD with host-local's lock held elsewhere: code 11 naming the lock and its holder before the deadline, nothing left", async () => {
    const conf = t.conf('bridge');
    const ipam = conf['ipam'] as Record<string, unknown>;
    ipam['lockTimeout'] = 60; // longer than the deadline: the deadline bounds it
    const lockDir = join(String(ipam['dataDir']), String(conf['name']));
    mkdirSync(lockDir, { recursive: true });
    const lockPath = join(lockDir, 'lock');
    // a node that already runs a pod (the bridge is shared: it stays, as under the reference)
    const resident = env.netns();
    expect((await t.run('bridge', t.env('ADD', resident, 'resident'), JSON.stringify(conf))).code).toBe(0);
    const pod = env.netns();
    const before = snapshot([t.node, pod], [t.dir]);
    const holder = await holdLock(lockPath);
    try {
      const r = await t.run('bridge', t.env('ADD', pod, 'locked', { CNI_TS_DEADLINE_MS: '6000' }), JSON.stringify(conf));
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ code: 11 });
      const msg = (r.json as { msg: string }).msg;
      expect(msg).toContain(`waiting for the lock on ${lockPath} (held by pid ${holder.pid})`);
      expect(r.ms).toBeLessThan(6000); // the lock's answer, not the deadline's
      expect(hasStack(r.stderr)).toBe(false);
    } finally {
      holder.release();
    }
    expect(diff(before, snapshot([t.node, pod], [t.dir])).join('\n')).toBe('');
  });

  it("portmap ADD with the node's nat lock held elsewhere: code 11 (not 999) within the bound, and the rollback does not wait again", async () => {
    const pod = env.netns();
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: pod.path }],
      ips: [{ address: `10.${t.octet}.9.2/24`, interface: 0 }],
    };
    const conf = { cniVersion: '1.0.0', name: `rlp${t.tag}`, type: 'portmap', backend: 'iptables', runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] }, prevResult };
    symlinkSync(join(BIN_DIR, 'portmap'), join(t.bin, 'portmap'));
    const before = iptablesSave();
    const holder = await holdLock('/run/cni-ts-portmap.lock');
    try {
      const r = await t.run('portmap', t.env('ADD', pod, 'pmlocked', { CNI_TS_DEADLINE_MS: '5000' }), JSON.stringify(conf));
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ code: 11 });
      expect((r.json as { msg: string }).msg).toContain(`waiting for the lock on /run/cni-ts-portmap.lock (held by pid ${holder.pid})`);
      // one wait of at most 5000 - 3000 ms; the rollback only tries the lock once
      expect(r.ms).toBeLessThan(4500);
    } finally {
      holder.release();
    }
    expect(iptablesSave()).toBe(before);
  });
});

describe('long container ids', () => {
  it('bridge: a 1000-character id is added with its iptables comment cut at 255 bytes (as under the Go bridge) and removed by DEL', async () => {
    const pod = env.netns();
    const id = 'c'.repeat(1000);
    const c = JSON.stringify(t.conf('bridge'));
    const add = await t.run('bridge', t.env('ADD', pod, id), c);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const comments = [...iptablesSave().matchAll(/--comment "((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replaceAll('\\"', '"'));
    expect(comments.length).toBeGreaterThan(0);
    for (const cm of comments) {
      expect(Buffer.byteLength(cm)).toBe(255);
      expect(cm.startsWith(`name: "rlb${t.tag}" id: "ccc`)).toBe(true);
    }
    const del = await t.run('bridge', t.env('DEL', pod, id), c);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(iptablesSave()).not.toContain('--comment');
  });

  it('flannel: a 300-character id is saved under a hashed name, found by DEL and removed', async () => {
    const pod = env.netns();
    const id = 'f'.repeat(300);
    const c = JSON.stringify(t.conf('flannel'));
    const add = await t.run('flannel', t.env('ADD', pod, id), c);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const saved = readdirSync(join(t.dir, 'flannel')).filter((n) => n !== '.cni-ts-boot-id');
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatch(/^\+[0-9a-f]{64}:eth0$/);
    const del = await t.run('flannel', t.env('DEL', pod, id), c);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(del.stderr).toBe('');
    expect(readdirSync(join(t.dir, 'flannel')).filter((n) => n !== '.cni-ts-boot-id')).toEqual([]);
  });
});

describe("a DEL never removes another pod's interface", () => {
  async function addOther(pod: TestNetns): Promise<{ mac: string }> {
    const add = await t.run('bridge', t.env('ADD', pod, 'owner'), JSON.stringify(t.conf('bridge')));
    expect(add.code, add.stdout + add.stderr).toBe(0);
    return { mac: ipJson<{ address: string }[]>(pod, 'link', 'show', 'eth0')[0]?.address ?? '' };
  }

  it('a prevResult with another MAC: the interface stays; with its MAC: it goes', async () => {
    const pod = env.netns();
    const { mac } = await addOther(pod);
    const prev = (m: string) => ({ ...t.conf('bridge'), prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: m, sandbox: pod.path }], ips: [] } });
    const wrong = await t.run('bridge', t.env('DEL', pod, 'intruder'), JSON.stringify(prev('0a:58:00:00:00:99')));
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(0);
    expect(ipJson(pod, 'link', 'show', 'eth0')).toHaveLength(1);
    const right = await t.run('bridge', t.env('DEL', pod, 'owner'), JSON.stringify(prev(mac)));
    expect(right.code, right.stdout + right.stderr).toBe(0);
    expect(ip(pod, 'link', 'show')).not.toContain('eth0');
  });

  it('its own DEL with a prevResult nested 9990 deep still finds and removes it', async () => {
    const pod = env.netns();
    await addOther(pod);
    const deep = `${'['.repeat(9990)}${']'.repeat(9990)}`;
    const stdin = JSON.stringify(t.conf('bridge')).replace(/}$/, `,"prevResult":{"cniVersion":"1.0.0","ips":[],"x":${deep}}}`);
    const del = await t.run('bridge', t.env('DEL', pod, 'owner'), stdin);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(del.stderr).toBe('');
    expect(ip(pod, 'link', 'show')).not.toContain('eth0');
  });

  it('no prevResult: its addresses are leased to another container, so it stays; the owner’s DEL removes it', async () => {
    const pod = env.netns();
    await addOther(pod);
    const before = snapshot([t.node, pod], [t.dir]);
    const failedAdd = await t.run('bridge', t.env('ADD', pod, 'intruder'), JSON.stringify(t.conf('bridge')));
    expect(failedAdd.json).toMatchObject({ code: 999, msg: expect.stringContaining('already exists') as unknown });
    const del = await t.run('bridge', t.env('DEL', pod, 'intruder'), JSON.stringify(t.conf('bridge')));
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(diff(before, snapshot([t.node, pod], [t.dir])).join('\n')).toBe('');
    const own = await t.run('bridge', t.env('DEL', pod, 'owner'), JSON.stringify(t.conf('bridge')));
    expect(own.code).toBe(0);
    expect(ip(pod, 'link', 'show')).not.toContain('eth0');
  });
});

describe('stderr stays quiet on the normal paths', () => {
  it.each(['flannel', 'bridge'] as const)('%s: a repeated DEL and a DEL after the namespace is gone print nothing', async (plugin) => {
    const pod = env.netns();
    const c = JSON.stringify(t.conf(plugin));
    expect((await t.run(plugin, t.env('ADD', pod, 'q'), c)).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      const del = await t.run(plugin, t.env('DEL', pod, 'q'), c);
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(del.stdout + del.stderr).toBe('');
    }
    expect((await t.run(plugin, t.env('ADD', pod, 'q2'), c)).code).toBe(0);
    execFileSync('ip', ['netns', 'del', pod.name]);
    const gone = await t.run(plugin, t.env('DEL', pod, 'q2'), c);
    expect(gone.code, gone.stdout + gone.stderr).toBe(0);
    expect(gone.stdout + gone.stderr).toBe('');
    expect(readdirSync(join(t.dir, 'ipam', `${plugin === 'flannel' ? 'rlf' : 'rlb'}${t.tag}`)).filter((f) => f !== 'lock' && !f.startsWith('last_') && !f.startsWith('.'))).toEqual([]);
  });
});

describe("flannel's temporary files", () => {
  it('GC removes the temporary of a killed flannel at once (not ten minutes later)', async () => {
    const dataDir = join(t.dir, 'flannel');
    mkdirSync(dataDir, { recursive: true });
    const dead = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    const tmp = join(dataDir, `.tmp-${dead}-0badcafe`);
    writeFileSync(tmp, '{"half');
    const gc = await t.run('flannel', t.env('GC', undefined, ''), JSON.stringify({ ...t.conf('flannel', '1.1.0'), 'cni.dev/valid-attachments': [] }));
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    expect(existsSync(tmp)).toBe(false);
  });
});

describe('answers for what used to be internal errors', () => {
  it.each([
    ['bridge', 'a netns path that cannot be opened (a directory)', { CNI_NETNS: '/run' }, 8],
    ['host-local', 'a data dir that is a file', {}, 5],
  ] as const)('%s: %s', async (plugin, _what, extra, code) => {
    const pod = env.netns();
    const c = t.conf(plugin);
    if (plugin === 'host-local') (c['ipam'] as Record<string, unknown>)['dataDir'] = t.subnetFile;
    const r = await t.run(plugin, t.env('ADD', pod, 'x', extra), JSON.stringify(c));
    expect(isCniError(r.json)).toBe(true);
    expect((r.json as { code: number }).code).toBe(code);
    expect(hasStack(r.stderr)).toBe(false);
  });
});
