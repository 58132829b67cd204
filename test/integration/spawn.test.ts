/**
 * The native addon's posix_spawn (lib/exec's only way to run iptables,
 * ip6tables and nft): exit codes, signals, stdin, large outputs, start
 * failures, the kill after a timeout, and runs at the same time.
 */
import { closeSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native/loader.ts';
import { execRunner } from '../../lib/exec/index.ts';
import { openNetlink } from '../../lib/netlink/index.ts';

function spawnRaw(file: string, argv: string[], input: Buffer | null, timeoutMs: number) {
  return new Promise<{ status: number; signal: number; stdout: string; stderr: string; timedOut: boolean }>((resolve) => {
    native().spawn(file, argv, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], input, timeoutMs, (status, signal, stdout, stderr, timedOut) =>
      resolve({ status, signal, stdout, stderr, timedOut }),
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
