/**
 * The pure parts of issue 9's guards: JSON nesting depth, the delegation
 * chain, mkdir one level at a time (under /proc too), fs errors as code 5,
 * the deadline's timer, flannel's file names for long ids and its temporaries
 * of dead processes, and bridge DEL's ownership by MAC.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { jsonDepth, tooDeep, MAX_JSON_DEPTH } from '../../../lib/cni/json-depth.ts';
import { CHAIN_ENV, DelegationCycleError, MAX_DELEGATION_DEPTH, chainOf, checkDelegation } from '../../../lib/cni/delegation.ts';
import { MkdirError, mkdirLevels } from '../../../lib/mkdir.ts';
import { CniCode, CniError, fromFsError } from '../../../lib/cni/errors.ts';
import { DEFAULT_DEADLINE_MS, armDeadline, deadlineError, deadlineMs, whenDeadlinePasses } from '../../../lib/cni/deadline.ts';
import { ConfStore, fileName } from '../../../plugins/flannel/store.ts';
import { ownershipByMac } from '../../../plugins/bridge/ownership.ts';
import { parseCniArgs } from '../../../lib/cni/args.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 't-guards-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('JSON depth', () => {
  it('counts arrays and objects, not brackets in strings or escaped quotes', () => {
    expect(jsonDepth('{}')).toBe(1);
    expect(jsonDepth('{"a":[{"b":[]}]}')).toBe(4);
    expect(jsonDepth('{"a":"[[[[{{{{"}')).toBe(1);
    expect(jsonDepth('{"a":"\\"[[[["}')).toBe(1);
    expect(jsonDepth('[1,2][3]')).toBe(1);
  });
  it('10000 is allowed, 10001 refused (as Go), 100000 answered without walking it all', () => {
    expect(tooDeep('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))).toBe(false);
    expect(tooDeep('['.repeat(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonDepth('['.repeat(100_000))).toBe(MAX_JSON_DEPTH + 1);
  });
});

describe('delegation chain', () => {
  it('a root plugin starts the chain with itself', () => {
    expect(chainOf({}, 'flannel')).toEqual(['flannel']);
    expect(checkDelegation({}, 'flannel', 'bridge')).toBe('flannel');
    expect(checkDelegation({ [CHAIN_ENV]: 'flannel' }, 'bridge', 'host-local')).toBe('flannel,bridge');
  });
  it('refuses a type already in the chain with code 7 naming the chain', () => {
    const e = cniErrorOf(() => checkDelegation({}, 'bridge', 'bridge'));
    expect(e).toBeInstanceOf(DelegationCycleError);
    expect(e.code).toBe(CniCode.InvalidNetworkConfig);
    expect(e.msg).toBe('delegation bridge → bridge refused: bridge is already in the chain (a cycle)');
    expect(cniErrorOf(() => checkDelegation({ [CHAIN_ENV]: 'flannel' }, 'bridge', 'flannel')).msg).toContain('flannel → bridge → flannel');
  });
  it('refuses past the depth limit', () => {
    const chain = Array.from({ length: MAX_DELEGATION_DEPTH - 1 }, (_, i) => `p${i}`).join(',');
    expect(cniErrorOf(() => checkDelegation({ [CHAIN_ENV]: chain }, 'me', 'next')).msg).toContain(`deeper than ${MAX_DELEGATION_DEPTH} plugins`);
  });
});

describe('mkdirLevels', () => {
  it('creates every missing level with the mode', () => {
    const d = tmp();
    mkdirLevels(join(d, 'a', 'b', 'c'), 0o700);
    expect(statSync(join(d, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(statSync(join(d, 'a')).mode & 0o777).toBe(0o700);
    mkdirLevels(join(d, 'a', 'b', 'c'), 0o700); // existing: fine
  });
  it('under /proc answers at once with the level that failed', () => {
    const started = Date.now();
    const err = (() => {
      try {
        mkdirLevels('/proc/no-such-pid-dir/x/y', 0o755);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err).toBeInstanceOf(MkdirError);
    expect((err as MkdirError).message).toBe('mkdir /proc/no-such-pid-dir: no such file or directory');
  });
  it('a file in the way is ENOTDIR naming it', () => {
    const d = tmp();
    writeFileSync(join(d, 'f'), '');
    expect(() => mkdirLevels(join(d, 'f', 'x'), 0o755)).toThrow(`mkdir ${join(d, 'f', 'x')}: not a directory`);
  });
});

describe('fs errors at the boundary', () => {
  it('a Node fs error becomes code 5 worded like Go', () => {
    const d = tmp();
    let err: unknown;
    try {
      closeSync(openSync(d, 'a'));
    } catch (e) {
      err = e;
    }
    const e = fromFsError(err);
    expect(e?.code).toBe(CniCode.IOFailure);
    expect(e?.msg).toBe(`open ${d}: is a directory`);
    expect(CniError.from(err).code).toBe(CniCode.IOFailure);
  });
  it('other errors are not touched', () => {
    expect(fromFsError(new Error('x'))).toBeUndefined();
    expect(CniError.from(new RangeError('Maximum call stack size exceeded')).code).toBe(CniCode.Internal);
  });
});

describe('deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  it('CNI_TS_DEADLINE_MS, else the default', () => {
    expect(deadlineMs({})).toBe(DEFAULT_DEADLINE_MS);
    expect(deadlineMs({ CNI_TS_DEADLINE_MS: '1500' })).toBe(1500);
    for (const bad of ['0', '-1', 'x', '1e3', '']) expect(deadlineMs({ CNI_TS_DEADLINE_MS: bad })).toBe(DEFAULT_DEADLINE_MS);
  });
  it('fires once: stops what was registered, prints code 11, exits 1; arms the watchdog later than the timer', () => {
    const out: string[] = [];
    const exits: number[] = [];
    const armed: number[] = [];
    let killed = 0;
    const unregister = whenDeadlinePasses(() => killed++);
    armDeadline({
      ms: 30,
      error: deadlineError('flannel', 'ADD', 30),
      write: (t) => out.push(t),
      exit: (c) => exits.push(c),
      backend: { watchdogArm: (ms) => armed.push(ms), watchdogDisarm: () => undefined },
    });
    vi.advanceTimersByTime(29);
    expect(exits).toEqual([]);
    vi.advanceTimersByTime(1);
    unregister();
    expect(killed).toBe(1);
    expect(exits).toEqual([1]);
    expect(JSON.parse(out.join(''))).toMatchObject({ code: 11, msg: 'flannel ADD did not finish within 30 ms' });
    expect(armed[0]).toBeGreaterThan(30);
  });
  it('disarmed: nothing happens', () => {
    const exits: number[] = [];
    let disarmed = 0;
    const a = armDeadline({ ms: 20, error: deadlineError('bridge', 'DEL', 20), write: () => undefined, exit: (c) => exits.push(c), backend: { watchdogArm: () => undefined, watchdogDisarm: () => disarmed++ } });
    a.disarm();
    vi.advanceTimersByTime(1000);
    expect(exits).toEqual([]);
    expect(disarmed).toBe(1);
  });
});

describe('flannel saved files', () => {
  it('short ids keep the <id>:<ifname> name; ids past NAME_MAX are hashed', () => {
    expect(fileName('abc', 'eth0')).toBe('abc:eth0');
    const long = 'a'.repeat(1000);
    expect(fileName(long, 'eth0')).toMatch(/^\+[0-9a-f]{64}:eth0$/);
    expect(fileName('a'.repeat(250), 'eth0')).toBe(`${'a'.repeat(250)}:eth0`);
    expect(fileName('a'.repeat(251), 'eth0')).toMatch(/^\+/);
  });
  it('a 1000-character id saves, finds and removes', () => {
    const st = new ConfStore(join(tmp(), 'flannel'));
    const id = 'c'.repeat(1000);
    const bytes = Buffer.from('{"name":"n","type":"bridge"}');
    const p = st.save(st.plan(id, 'eth0'), id, 'eth0', bytes, bytes);
    expect(p).toMatch(/\/\+[0-9a-f]{64}:eth0$/);
    expect(st.find(id, 'eth0', 'n')?.path).toBe(p);
    st.remove(p);
    expect(st.find(id, 'eth0', 'n')).toBeUndefined();
  });
  it('lists the temporary of a dead process as stale at once, a live one not', () => {
    const d = tmp();
    const st = new ConfStore(d);
    const dead = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    writeFileSync(join(d, `.tmp-${dead}-abcd`), '{}');
    writeFileSync(join(d, `.tmp-${process.pid}-abcd`), '{}');
    const old = join(d, '.tmp-ctr:eth0-beef');
    writeFileSync(old, '{}');
    utimesSync(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    expect(st.list().stale.sort()).toEqual([join(d, `.tmp-${dead}-abcd`), old].sort());
    expect(existsSync(join(d, `.tmp-${process.pid}-abcd`))).toBe(true);
  });
});

describe('CNI_ARGS empty pairs', () => {
  it('refuses ";;;=;" like the reference; one trailing ";" is still fine', () => {
    const e = cniErrorOf(() => parseCniArgs(';;;=;'));
    expect(e.code).toBe(CniCode.InvalidEnvironmentVariables);
    expect(e.msg).toBe('ARGS: invalid pair ""');
    expect(cniErrorOf(() => parseCniArgs('A=1;;B=2')).msg).toBe('ARGS: invalid pair ""');
    expect(parseCniArgs('A=1;')).toEqual([{ key: 'A', value: '1' }]);
  });
});

describe('bridge DEL ownership by MAC', () => {
  const args = { ifName: 'eth0', netns: '/run/netns/p' };
  const prev = (mac?: string) => ({ cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/p', ...(mac === undefined ? {} : { mac }) }] });
  it('matching MAC: ours; other MAC: not ours; no prevResult or no MAC: unknown', () => {
    expect(ownershipByMac(args, prev('0A:58:00:00:00:01'), { mac: '0a:58:00:00:00:01' })).toBe('ours');
    expect(ownershipByMac(args, prev('0a:58:00:00:00:02'), { mac: '0a:58:00:00:00:01' })).toBe('not-ours');
    expect(ownershipByMac(args, undefined, { mac: '0a:58:00:00:00:01' })).toBe('unknown');
    expect(ownershipByMac(args, prev(), { mac: '0a:58:00:00:00:01' })).toBe('unknown');
  });
});
