/**
 * The Bun target only (dist/bun): what a Bun executable would take from its
 * environment and working directory, and how the build closes it
 * (docs/build-targets.md).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { binPath, cniEnv, runExe } from '../helpers/exec.ts';

const VERSION_OUT = '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';

describe('bun target: environment and working directory', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('refuses to run with BUN_OPTIONS set: one code-4 error', async () => {
    const r = await runExe(binPath('bridge'), { env: cniEnv({ CNI_COMMAND: 'VERSION', BUN_OPTIONS: '--smol' }) });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 4, msg: expect.stringContaining('BUN_OPTIONS') as unknown });
    expect(r.stderr).toBe('');
    // empty is no option at all
    const empty = await runExe(binPath('bridge'), { env: cniEnv({ CNI_COMMAND: 'VERSION', BUN_OPTIONS: '' }) });
    expect(empty.stdout).toBe(VERSION_OUT);
  });

  it('reads neither .env nor bunfig.toml from the directory it runs in (the runtime’s)', () => {
    dir = mkdtempSync(join(tmpdir(), 'bun-cwd-'));
    const marker = join(dir, 'preloaded');
    writeFileSync(join(dir, 'pre.js'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`);
    writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./pre.js"]\n');
    writeFileSync(join(dir, '.env'), 'CNI_COMMAND=VERSION\n');
    const r = spawnSync(binPath('bridge'), [], { cwd: dir, env: cniEnv({}), encoding: 'utf8' });
    // without CNI_COMMAND (the .env's was not read) the plugin prints its about text on stderr
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('CNI plugin bridge');
    expect(existsSync(marker)).toBe(false);
  });

  it('BUN_BE_BUN turns it into the bun command line before any code of ours runs (documented, not closable from inside)', () => {
    const r = spawnSync(binPath('cni'), ['--version'], { env: cniEnv({ BUN_BE_BUN: '1' }), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
