/**
 * `npm run install-plugins` (scripts/install.mjs) installs the default build
 * target (scripts/targets.mjs), the other one with `--target`, and refuses a
 * target that does not exist.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/exec.ts';

const install = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'scripts', 'install.mjs'), ...args], { encoding: 'utf8' });
const runtimeOf = (exe: string): unknown => (JSON.parse(spawnSync(exe, ['selftest'], { encoding: 'utf8' }).stdout) as { runtime?: unknown }).runtime;

describe('install-plugins', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('installs the Bun target by default and the Node target with --target node', async () => {
    const { DEFAULT_TARGET } = (await import(join(ROOT, 'scripts', 'targets.mjs'))) as { DEFAULT_TARGET: string };
    expect(DEFAULT_TARGET).toBe('bun');
    dir = mkdtempSync(join(tmpdir(), 'cni-install-'));
    const byDefault = install([join(dir, 'a')]);
    expect(byDefault.status, byDefault.stderr).toBe(0);
    expect(runtimeOf(join(dir, 'a', 'cni'))).toBe('bun');
    expect(readlinkSync(join(dir, 'a', 'flannel'))).toBe('cni');
    const node = install([join(dir, 'b'), '--target', 'node', '--only', 'bridge']);
    expect(node.status, node.stderr).toBe(0);
    expect(runtimeOf(join(dir, 'b', 'cni'))).toBe('node');
    expect(readlinkSync(join(dir, 'b', 'bridge'))).toBe('cni');
    const bad = install([join(dir, 'c'), '--target', 'deno']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--target node|bun');
  });
});
