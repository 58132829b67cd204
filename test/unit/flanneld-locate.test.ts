/**
 * scripts/lib/flanneld.mjs: where the demo and the real-engine tests take
 * flanneld from. FLANNELD names a binary (an unusable one is fatal); unset,
 * the cache keyed by the source archive's hash.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheDirFor, findFlanneld } from '../../scripts/lib/flanneld.mjs';

let dir: string;
const saved = { FLANNELD: process.env['FLANNELD'], CNI_TS_CACHE: process.env['CNI_TS_CACHE'] };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fd-locate-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('FLANNELD', () => {
  it('a missing path is fatal, named as given', () => {
    process.env['FLANNELD'] = '/nonexistent';
    expect(findFlanneld()).toEqual({ problem: 'FLANNELD=/nonexistent: no such file', fatal: true, buildable: false });
  });

  it('a file that is not executable, or a directory, is fatal', () => {
    const f = join(dir, 'flanneld');
    writeFileSync(f, '#!/bin/sh\n');
    process.env['FLANNELD'] = f;
    expect(findFlanneld()).toMatchObject({ problem: `FLANNELD=${f}: not an executable file`, fatal: true });
    process.env['FLANNELD'] = dir;
    expect(findFlanneld()).toMatchObject({ fatal: true });
  });

  it('an executable is used as is', () => {
    const f = join(dir, 'flanneld');
    writeFileSync(f, '#!/bin/sh\n');
    chmodSync(f, 0o755);
    process.env['FLANNELD'] = f;
    expect(findFlanneld()).toEqual({ path: f, origin: `FLANNELD=${f}` });
  });
});

describe('the cache', () => {
  it('is keyed by the archive: another archive, another directory; CNI_TS_CACHE moves it', () => {
    const tools = join(dir, 'tools');
    const other = join(dir, 'other');
    mkdirSync(tools);
    mkdirSync(other);
    writeFileSync(join(tools, 'flannel-v0.20.2.tar.xz'), 'one');
    writeFileSync(join(other, 'flannel-v0.20.2.tar.xz'), 'two');
    process.env['CNI_TS_CACHE'] = join(dir, 'cache');
    const a = cacheDirFor(tools);
    expect(a).toMatch(new RegExp(`^${join(dir, 'cache')}/flanneld-v0\\.20\\.2-[0-9a-f]{12}$`));
    expect(cacheDirFor(other)).not.toBe(a);
    expect(cacheDirFor(tools)).toBe(a);
  });
});
