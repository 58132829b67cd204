/**
 * The Node target only (dist/bin): its V8 code cache. The Bun target has
 * bytecode instead, with no accept/reject answer (docs/build-targets.md).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN_DIR, binPath } from '../helpers/exec.ts';

const VERSION_OUT = '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';

describe('V8 code cache', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const loader = join(root, 'scripts', 'sea-loader.cjs');
  const nodeBase = (): string => {
    const base = readdirSync(join(root, 'build')).find((f) => /^node-base-[0-9a-f]+$/.test(f));
    if (base === undefined) throw new Error('build/node-base-* is missing: run npm run build');
    return join(root, 'build', base);
  };
  /** The loader outside the executable, on the same bundle and cache the executable carries. */
  const viaLoader = (nodeArgs: string[], args: string[], env: Record<string, string>) =>
    spawnSync(nodeBase(), [...nodeArgs, loader, ...args], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_TS_TRAIN_BUNDLE: join(root, 'build', 'bundle.js'), CNI_TS_TRAIN_CACHE_IN: join(root, 'build', 'bundle.cache'), ...env },
      encoding: 'utf8',
    });

  it('the shipped executable accepts its own cache', () => {
    const r = spawnSync(binPath('cni'), ['selftest'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, codeCache: 'accepted' });
  });

  it('a cache V8 rejects (a V8 flag changes its flag hash) still runs correctly', () => {
    const self = viaLoader(['--no-opt'], ['selftest'], {});
    expect(self.stderr).toBe('');
    expect(JSON.parse(self.stdout)).toMatchObject({ ok: true, codeCache: 'rejected' });
    const version = viaLoader(['--no-opt'], ['bridge'], { CNI_COMMAND: 'VERSION' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(VERSION_OUT);
    const bad = viaLoader(['--no-opt'], ['bridge'], { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ code: 6 });
  });

  it('the same loader without flags accepts the cache (the control for the test above)', () => {
    const r = viaLoader([], ['selftest'], {});
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, codeCache: 'accepted' });
  });
});
