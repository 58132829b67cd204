/**
 * The native addon's posix_spawn (lib/ipmasq/run.ts's only way to run iptables,
 * ip6tables and nft): exit codes, signals, stdin, large outputs, start
 * failures, the kill after a timeout, and runs at the same time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/exec.ts';
import { native } from '../../lib/native/loader.ts';
import { execRunner } from '../../lib/ipmasq/run.ts';
import { openNetlink } from '../../lib/netlink/index.ts';

function spawnRaw(file: string, argv: string[], input: Buffer | null, timeoutMs: number) {
  return new Promise<{ status: number; signal: number; stdout: string; stderr: string; timedOut: boolean; waitErrno: number }>((resolve) => {
    native().spawn(file, argv, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], input, timeoutMs, (status, signal, stdout, stderr, timedOut, waitErrno) =>
      resolve({ status, signal, stdout, stderr, timedOut, waitErrno }),
    );
  });
}

describe('execRunner (posix_spawn)', () => {
  it('captures stdout, stderr and the exit status', async () => {
    const r = await execRunner('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('feeds stdin and passes arguments verbatim (no shell)', async () => {
    expect(await execRunner('cat', [], 'line 1\nline 2\n')).toEqual({ code: 0, stdout: 'line 1\nline 2\n', stderr: '' });
    expect((await execRunner('printf', ['%s|', 'a b', '$HOME', ';'])).stdout).toBe('a b|$HOME|;|');
  });

  it('gives the program an empty stdin when there is no input', async () => {
    expect(await execRunner('cat', [])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('captures outputs larger than a pipe holds', async () => {
    const r = await execRunner('seq', ['1', '200000']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    expect(r.stdout.endsWith('\n200000\n')).toBe(true);
  });

  it('rejects with ENOENT when the program does not exist', async () => {
    await expect(execRunner('no-such-program-cni-ts', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports a death by signal as 128 + signal', async () => {
    expect((await execRunner('sh', ['-c', 'kill -TERM $$'])).code).toBe(128 + 15);
  });

  it('passes the environment', async () => {
    process.env['CNI_TS_SPAWN_TEST'] = 'v1';
    try {
      expect((await execRunner('sh', ['-c', 'echo $CNI_TS_SPAWN_TEST'])).stdout).toBe('v1\n');
    } finally {
      delete process.env['CNI_TS_SPAWN_TEST'];
    }
  });

  it('gives the program stdin, stdout and stderr only, whatever this process has open', async () => {
    const held = openSync('/etc/hostname', 'r');
    // a file and a netlink socket held open here must not reach the program
    const nl = await openNetlink();
    try {
      // `ls` lists the descriptors of the shell that runs it
      expect((await execRunner('sh', ['-c', 'ls /proc/$$/fd'])).stdout.split('\n').filter((l) => l !== '')).toEqual(['0', '1', '2']);
    } finally {
      nl.close();
      closeSync(held);
    }
  });

  it('runs several programs at the same time, each with its own outputs', async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => execRunner('sh', ['-c', `sleep 0.0$((${i} % 5)); echo ${i}; echo e${i} >&2`])));
    rs.forEach((r, i) => expect(r).toEqual({ code: 0, stdout: `${i}\n`, stderr: `e${i}\n` }));
  });
});

describe('native spawn', () => {
  it('kills a program that outlives its timeout and says so', async () => {
    const r = await spawnRaw('sleep', ['sleep', '30'], null, 200);
    expect(r.timedOut).toBe(true);
    expect(r.status).toBe(-1);
    expect(r.signal).toBe(9);
  });

  it('refuses bad arguments with a TypeError', () => {
    expect(() => native().spawn('true', 'true' as unknown as string[], [], null, 1000, () => undefined)).toThrow(TypeError);
  });
});

/**
 * The addon built with `defines`, loaded in a child Node process that holds
 * an inherited descriptor without FD_CLOEXEC as its fd 3 (a pipe from this
 * process), which spawns `sh -c 'ls /proc/$$/fd'`; what the callback got.
 */
function spawnWithVariant(defines: string[]): { status: number; stdout: string; waitErrno: number } {
  const dir = mkdtempSync(join(tmpdir(), 't-native-'));
  try {
    const addon = join(dir, 'variant.node');
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', ...defines,
      '-I', join(ROOT, 'node_modules', 'node-api-headers', 'include'), '-o', addon, join(ROOT, 'native', 'cni_native.c')]);
    const script = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(addon)});
      m.exports.spawn('sh', ['sh', '-c', 'ls /proc/$$/fd'], ['PATH=/usr/bin:/bin'], null, 5000,
        (status, signal, stdout, stderr, timedOut, waitErrno) => process.stdout.write(JSON.stringify({ status, stdout, waitErrno })));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'], timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { status: number; stdout: string; waitErrno: number };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('native spawn on other C libraries', () => {
  it('without posix_spawn_file_actions_addclosefrom_np (glibc < 2.34), inherited descriptors are still closed', () => {
    // the child's fd 3 is inherited (no FD_CLOEXEC): the program must not get it
    const r = spawnWithVariant(['-DCNI_NO_CLOSEFROM_NP']);
    expect(r.stdout.split('\n').filter((l) => l !== '')).toEqual(['0', '1', '2']);
  });

  it('a waitpid that fails is reported (waitErrno), never as exit status 0', () => {
    const r = spawnWithVariant(['-DCNI_TEST_WAITPID_ERRNO=10']);
    expect(r.waitErrno).toBe(10);
  });
});
