import { describe, expect, it } from 'vitest';
import { COMMON_ARGS, loadCniArgs, parseCniArgs } from '../../../lib/cni/args.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

describe('parseCniArgs', () => {
  it.each([
    ['', []],
    ['IP=10.1.0.5', [{ key: 'IP', value: '10.1.0.5' }]],
    [
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
      [
        { key: 'IgnoreUnknown', value: '1' },
        { key: 'K8S_POD_NAMESPACE', value: 'default' },
        { key: 'K8S_POD_NAME', value: 'web-0' },
      ],
    ],
    // values may contain '=' (the reference rejects this; documented improvement)
    ['TOKEN=a=b==', [{ key: 'TOKEN', value: 'a=b==' }]],
    // one trailing ';' is skipped (the reference rejects it)
    ['A=1;', [{ key: 'A', value: '1' }]],
    ['A=', [{ key: 'A', value: '' }]],
    // an empty key is just a key nobody knows, as in the reference
    ['=v', [{ key: '', value: 'v' }]],
    ['A=1;A=2', [{ key: 'A', value: '1' }, { key: 'A', value: '2' }]],
    ['A= spaced value ', [{ key: 'A', value: ' spaced value ' }]],
  ])('%j', (raw, pairs) => {
    expect(parseCniArgs(raw)).toEqual(pairs);
  });

  it.each([
    ['A', 'ARGS: invalid pair "A"'],
    ['A=1;B', 'ARGS: invalid pair "B"'],
    ['A=1;B;C', 'ARGS: invalid pair "B"'],
  ])('rejects %j (code 4)', (raw, msg) => {
    const e = cniErrorOf(() => parseCniArgs(raw));
    expect([e.code, e.msg]).toEqual([4, msg]);
  });
});

describe('loadCniArgs', () => {
  const strict = { known: ['IP', 'MAC'], lenient: false };
  const lenient = { known: ['IP', 'MAC'], lenient: true };

  it('returns known keys, the runtime-common ones included; the last value wins', () => {
    const v = loadCniArgs('IP=10.1.0.5;K8S_POD_NAME=p;IP=10.1.0.6;K8S_POD_UID=u', strict);
    expect(Object.fromEntries(v)).toEqual({ IP: '10.1.0.6', K8S_POD_NAME: 'p', K8S_POD_UID: 'u' });
    expect(COMMON_ARGS).toEqual(['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);
  });

  it('empty CNI_ARGS is nothing', () => {
    expect(loadCniArgs('', strict).size).toBe(0);
  });

  it('keys are case-sensitive, as in the reference', () => {
    const e = cniErrorOf(() => loadCniArgs('ip=10.1.0.5', strict));
    expect(e.msg).toBe('ARGS: unknown args ["ip=10.1.0.5"]');
  });

  it('strict: unknown keys are listed together, Go %q style (code 4)', () => {
    const e = cniErrorOf(() => loadCniArgs('FOO=1;IP=10.1.0.5;BAR=x=y', strict));
    expect([e.code, e.msg]).toEqual([4, 'ARGS: unknown args ["FOO=1" "BAR=x=y"]']);
  });

  it('strict: an empty key is an unknown arg', () => {
    expect(cniErrorOf(() => loadCniArgs('=v', strict)).msg).toBe('ARGS: unknown args ["=v"]');
    expect(loadCniArgs('=v;IgnoreUnknown=1', strict).size).toBe(1);
  });

  it('lenient: unknown keys are ignored', () => {
    expect(Object.fromEntries(loadCniArgs('FOO=1;IP=10.1.0.5', lenient))).toEqual({ IP: '10.1.0.5' });
  });

  it.each(['1', 'true', 'TRUE', 'True'])('IgnoreUnknown=%s ignores unknown keys even when strict', (v) => {
    const got = loadCniArgs(`FOO=1;IgnoreUnknown=${v};IP=10.1.0.5`, strict);
    expect(got.get('IP')).toBe('10.1.0.5');
    expect(got.has('FOO')).toBe(false);
  });

  it.each(['0', 'false', 'FALSE'])('IgnoreUnknown=%s keeps the strict rule', (v) => {
    expect(cniErrorOf(() => loadCniArgs(`IgnoreUnknown=${v};FOO=1`, strict)).msg).toBe('ARGS: unknown args ["FOO=1"]');
  });

  it.each(['yes', '2', '', 'on'])('IgnoreUnknown=%j is a parse error, lenient or not', (v) => {
    for (const opts of [strict, lenient]) {
      const e = cniErrorOf(() => loadCniArgs(`IgnoreUnknown=${v}`, opts));
      expect([e.code, e.msg, e.details]).toEqual([4, `ARGS: error parsing value of pair "IgnoreUnknown=${v}"`, 'boolean unmarshal error']);
    }
  });

  it('an invalid pair fails before anything else', () => {
    expect(cniErrorOf(() => loadCniArgs('IgnoreUnknown=1;junk', lenient)).msg).toBe('ARGS: invalid pair "junk"');
  });
});
