/**
 * Both delegation paths with the runner the executable uses (invoke.ts
 * defaultRunner): when the delegate found on CNI_PATH is this executable
 * (same inode), flannel → bridge → host-local runs in this one process; any
 * other file (the Go bridge) is exec'd with the same environment and the
 * rendered config on stdin.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CmdArgs, type Plugin, type PluginIO, type RunContext, runPlugin } from '../../../lib/cni/skel.ts';
import { defaultRunner } from '../../../lib/cni/invoke.ts';
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from '../../../lib/cni/version.ts';
import type { Result } from '../../../lib/cni/types/current.ts';
import { flannelPlugin } from '../../../plugins/flannel/index.ts';
import { IPV4_ENV } from './harness.ts';

interface Seen {
  plugin: string;
  command: string;
  pid: number;
  conf: Record<string, unknown>;
}

let root: string;
let seen: Seen[];

/** A stand-in main plugin that, like bridge, delegates to its IPAM plugin. */
function fakePlugin(name: string, ipam: boolean): Plugin {
  const record = (args: CmdArgs) => seen.push({ plugin: name, command: args.command, pid: process.pid, conf: JSON.parse(args.stdinData.toString()) as Record<string, unknown> });
  return {
    name,
    about: name,
    supportedVersions: SUPPORTED_VERSIONS,
    async add(args): Promise<Result> {
      record(args);
      if (ipam) return args.invoke.add('host-local', args.stdinData, args.conf.cniVersion);
      return { cniVersion: CURRENT_VERSION, ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1' }] };
    },
    async del(args) {
      record(args);
      if (ipam) await args.invoke.del('host-local', args.stdinData);
    },
    check: () => Promise.resolve(),
    gc: () => Promise.resolve(),
    status: () => Promise.resolve(),
  };
}

/** Runs flannel the way lib/cni/main.ts does, with `self` standing for process.execPath. */
async function runFlannel(command: string, self: string, binDir: string, extraEnv: Record<string, string> = {}) {
  const plugins = new Map<string, Plugin>([
    ['flannel', flannelPlugin],
    ['bridge', fakePlugin('bridge', true)],
    ['host-local', fakePlugin('host-local', false)],
  ]);
  let stderr = '';
  const ctx: RunContext = {
    runner: defaultRunner({ plugins, self, runInProcess: (p, io) => runPlugin(p, io, ctx), stderr: (t) => (stderr += t) }),
  };
  let stdout = '';
  const conf = { cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', subnetFile: join(root, 'subnet.env'), dataDir: join(root, 'data') };
  const io: PluginIO = {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/t-none', CNI_IFNAME: 'eth0', CNI_PATH: binDir, PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...extraEnv },
    readStdin: () => Promise.resolve(Buffer.from(JSON.stringify(conf))),
    writeStdout: (t) => (stdout += t),
    writeStderr: (t) => (stderr += t),
  };
  const code = await runPlugin(flannelPlugin, io, ctx);
  return { code, stdout, stderr };
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 't-flannel-deleg-'));
  writeFileSync(join(root, 'subnet.env'), IPV4_ENV);
  seen = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('in-process delegation (the delegate on CNI_PATH is this executable)', () => {
  it('runs flannel → bridge → host-local in this one process, each getting the rendered config', async () => {
    const self = join(root, 'cni');
    writeFileSync(self, '#!/bin/sh\necho "exec\'d: must not happen" >&2\nexit 7\n');
    chmodSync(self, 0o755);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    for (const p of ['flannel', 'bridge', 'host-local']) symlinkSync(self, join(bin, p));
    const r = await runFlannel('ADD', self, bin);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(seen.map((s) => `${s.plugin} ${s.command}`)).toEqual(['bridge ADD', 'host-local ADD']);
    expect(new Set(seen.map((s) => s.pid))).toEqual(new Set([process.pid]));
    // saved under the reference's name, with the key naming the interface, which the delegates are not given
    const { 'cni-ts.ifName': owner, ...saved } = JSON.parse(readFileSync(join(root, 'data', 'c1'), 'utf8')) as Record<string, unknown>;
    expect(owner).toBe('eth0');
    expect(seen[0]?.conf).toEqual(saved);
    expect(seen[1]?.conf).toEqual(saved);
    expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.244.1.2/24' }] });

    const d = await runFlannel('DEL', self, bin);
    expect(d.code).toBe(0);
    expect(seen.map((s) => `${s.plugin} ${s.command}`)).toEqual(['bridge ADD', 'host-local ADD', 'bridge DEL', 'host-local DEL']);
    expect(existsSync(join(root, 'data', 'c1'))).toBe(false);
  });
});

describe('exec delegation (any other file, e.g. the Go bridge)', () => {
  it('execs it with the same environment, CNI_COMMAND set, and the rendered config on stdin', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const marks = join(root, 'marks');
    mkdirSync(marks);
    writeFileSync(
      join(bin, 'bridge'),
      '#!/bin/sh\ncat > "$MARKS/$CNI_COMMAND.stdin"\nenv > "$MARKS/$CNI_COMMAND.env"\n[ "$CNI_COMMAND" = ADD ] && echo \'{"cniVersion":"1.0.0","ips":[{"address":"10.244.1.9/24","gateway":"10.244.1.1"}]}\'\nexit 0\n',
    );
    chmodSync(join(bin, 'bridge'), 0o755);
    const r = await runFlannel('ADD', join(root, 'not-this-file'), bin, { MARKS: marks });
    expect(r.code).toBe(0);
    expect(seen).toEqual([]); // nothing ran in-process
    expect(JSON.parse(r.stdout)).toMatchObject({ ips: [{ address: '10.244.1.9/24' }] });
    expect(JSON.parse(readFileSync(join(root, 'data', 'c1'), 'utf8'))).toEqual({ ...JSON.parse(readFileSync(join(marks, 'ADD.stdin'), 'utf8')), 'cni-ts.ifName': 'eth0' });
    const env = readFileSync(join(marks, 'ADD.env'), 'utf8');
    expect(env).toContain('CNI_COMMAND=ADD');
    expect(env).toContain('CNI_CONTAINERID=c1');
    expect(env).toContain(`CNI_PATH=${bin}`);

    expect((await runFlannel('DEL', join(root, 'not-this-file'), bin, { MARKS: marks })).code).toBe(0);
    expect(readFileSync(join(marks, 'DEL.stdin'), 'utf8')).toBe(readFileSync(join(marks, 'ADD.stdin'), 'utf8'));
  });

  it("turns the exec'd delegate's error JSON back into its code and message", async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'bridge'), '#!/bin/sh\necho \'{"code":11,"msg":"busy"}\'\nexit 1\n');
    chmodSync(join(bin, 'bridge'), 0o755);
    const r = await runFlannel('ADD', join(root, 'not-this-file'), bin);
    expect(JSON.parse(r.stdout)).toEqual({ code: 11, msg: 'failed to delegate add: busy' });
  });
});
