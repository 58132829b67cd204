/** The runtime side's bound on one plugin run (CniConfig `timeoutMs` → execPlugin). */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { CniConfig, confListFromBytes } from '../../../lib/runtime/index.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rt-timeout-'));
  writeFileSync(join(dir, 'hang'), '#!/bin/sh\nexec sleep 30\n');
  chmodSync(join(dir, 'hang'), 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('a plugin that never answers is killed and reported as a failed ADD', async () => {
  const cni = new CniConfig({ paths: [dir], cacheDir: join(dir, 'cache'), timeoutMs: 200, baseEnv: { PATH: '/usr/bin:/bin' } });
  const list = confListFromBytes(Buffer.from(JSON.stringify({ name: 'n', cniVersion: '1.0.0', plugins: [{ type: 'hang' }] })));
  const t0 = Date.now();
  await expect(cni.addNetworkList(list, { containerId: 'c1', netns: '/run/netns/x', ifName: 'eth0' })).rejects.toThrow('plugin type="hang" failed (add): netplugin failed: "killed after 200 ms without an answer"');
  expect(Date.now() - t0).toBeLessThan(5000);
});
