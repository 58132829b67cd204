import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OpLog, k8sArgs, levelOf, startOpLog, type OpLogStart } from '../../../lib/cni/oplog.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'dp-oplog-unit-'));
  dirs.push(d);
  return d;
}

const start = (conf: Record<string, unknown>, args = ''): OpLogStart => ({
  plugin: 'bridge',
  command: 'ADD',
  containerId: 'c1',
  ifName: 'eth0',
  netns: '/run/netns/x',
  args,
  conf: { name: 'n', cniVersion: '1.0.0', type: 'bridge', ...conf },
  startedAt: Date.now(),
});

describe('the operators log', () => {
  it('keeps only the K8S_ pairs of CNI_ARGS', () => {
    expect(k8sArgs('IgnoreUnknown=1;K8S_POD_NAME=a;TOKEN=secret;K8S_POD_NAMESPACE=b=c;bad')).toEqual({ K8S_POD_NAME: 'a', K8S_POD_NAMESPACE: 'b=c' });
  });

  it('takes error, info, debug; anything else is info', () => {
    expect([levelOf('error'), levelOf('debug'), levelOf('info'), levelOf('DEBUG'), levelOf(3), levelOf(undefined)]).toEqual(['error', 'debug', 'info', 'info', 'info', 'info']);
  });

  it('is off without an absolute logFile', () => {
    expect(startOpLog(start({}))).toBeUndefined();
    expect(startOpLog(start({ logFile: 'rel.log' }))).toBeUndefined();
    expect(startOpLog(start({ logFile: 42 }))).toBeUndefined();
    expect(startOpLog(start({ logFile: '/x/y.log', logLevel: 'debug' }))?.level).toBe('debug');
  });

  it('appends 0600 lines, makes an existing file 0600, and rotates past the bound to .1', () => {
    const d = tmp();
    const file = join(d, 'cni.log');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    const mk = (): OpLog => new OpLog(start({}), file, 'info', 600);
    mk().finish(0, undefined, { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const first = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(first).toMatchObject({ plugin: 'bridge', command: 'ADD', containerId: 'c1', exitCode: 0, ips: ['10.0.0.2/24'] });
    for (let i = 0; i < 10; i++) mk().finish(1, { code: 11, msg: 'x'.repeat(50) }, undefined);
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(statSync(file).size).toBeLessThan(600 + 400);
    expect(statSync(`${file}.1`).size).toBeGreaterThanOrEqual(600);
    for (const l of readFileSync(file, 'utf8').trimEnd().split('\n')) expect(JSON.parse(l)).toMatchObject({ error: { code: 11 } });
  });

  it('writes nothing at level error for a success, and never throws when it cannot write', () => {
    const d = tmp();
    new OpLog(start({}), join(d, 'e.log'), 'error').finish(0, undefined, undefined);
    expect(existsSync(join(d, 'e.log'))).toBe(false);
    writeFileSync(join(d, 'file'), '');
    expect(() => new OpLog(start({}), join(d, 'file', 'under-a-file.log'), 'info').finish(0, undefined, undefined)).not.toThrow();
  });
});
