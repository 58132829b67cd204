/** Invoker: what a delegate's answer means. An error object is a failure whatever the exit status (issue 19.3). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError } from '../../../lib/cni/errors.ts';
import { Invoker, type PluginRunner, type RawOutput } from '../../../lib/cni/invoke.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cp-invoke-'));
  writeFileSync(join(dir, 'ipam'), '', { mode: 0o755 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function invoker(out: RawOutput): Invoker {
  const runner: PluginRunner = { run: () => Promise.resolve(out) };
  return new Invoker({ CNI_COMMAND: 'ADD' }, [dir], runner);
}

async function caught(p: Promise<unknown>): Promise<CniError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}

describe('a delegate that exits 0', () => {
  it('with an error object on stdout: that error, its code and details, for every command', async () => {
    const out = { exitCode: 0, stdout: JSON.stringify({ code: 11, msg: 'busy', details: 'lock held' }), stderr: '' };
    for (const p of [invoker(out).add('ipam', {}, '1.0.0'), invoker(out).del('ipam', {}), invoker(out).check('ipam', {}), invoker(out).gc('ipam', {}), invoker(out).status('ipam', {})]) {
      const e = await caught(p);
      expect({ code: e.code, msg: e.msg, details: e.details }).toEqual({ code: 11, msg: 'busy', details: 'lock held' });
    }
  });

  it('with a result: the result (a result has no "code")', async () => {
    const r = await invoker({ exitCode: 0, stdout: JSON.stringify({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] }), stderr: '' }).add('ipam', {}, '1.0.0');
    expect(r.ips?.[0]?.address).toBe('10.1.0.2/24');
  });

  it('with an object that only looks like an error (code not an integer): not taken for one', async () => {
    await expect(invoker({ exitCode: 0, stdout: '{"code":"x","msg":"m"}', stderr: '' }).del('ipam', {})).resolves.toBeUndefined();
  });
});
