import { describe, expect, it } from 'vitest';
import { CniCode, CniError, errnoCode } from '../../../lib/cni/errors.ts';

/** The spec's table (SPEC.md §5) plus the Go skel's 8 and 999. */
const EXPECTED_CODES: ReadonlyArray<readonly [keyof typeof CniCode, number]> = [
  ['IncompatibleCNIVersion', 1],
  ['UnsupportedField', 2],
  ['UnknownContainer', 3],
  ['InvalidEnvironmentVariables', 4],
  ['IOFailure', 5],
  ['DecodingFailure', 6],
  ['InvalidNetworkConfig', 7],
  ['InvalidNetNS', 8],
  ['TryAgainLater', 11],
  ['PluginNotAvailable', 50],
  ['PluginNotAvailableLimitedConnectivity', 51],
  ['Internal', 999],
];

describe('CniCode', () => {
  it('has exactly the known codes', () => {
    expect(Object.entries(CniCode)).toEqual(EXPECTED_CODES);
  });

  it.each(EXPECTED_CODES)('%s = %d prints as the reference does', (_name, code) => {
    const plain = new CniError(code, 'something failed');
    expect(plain.code).toBe(code);
    expect(plain.toJSON()).toEqual({ code, msg: 'something failed' });
    expect(JSON.stringify(plain)).toBe(`{"code":${code},"msg":"something failed"}`);
    expect(plain.message).toBe('something failed');

    const detailed = new CniError(code, 'something failed', 'because');
    expect(JSON.stringify(detailed)).toBe(`{"code":${code},"msg":"something failed","details":"because"}`);
    expect(detailed.message).toBe('something failed; because');

    // passes through the boundary unchanged
    expect(CniError.from(detailed)).toBe(detailed);
    // wrapping keeps the code and the details
    const wrapped = CniError.wrap('context', detailed);
    expect([wrapped.code, wrapped.msg, wrapped.details, wrapped.cause]).toEqual([code, 'context: something failed', 'because', detailed]);
  });
});

describe('CniError', () => {
  it('is an Error named CniError', () => {
    const e = new CniError(CniCode.IOFailure, 'x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('CniError');
    expect(e.details).toBe('');
  });

  it('a plain Error becomes code 999 with the error as cause', () => {
    const plain = new TypeError('bad thing');
    const e = CniError.from(plain);
    expect([e.code, e.msg, e.details, e.cause]).toEqual([999, 'bad thing', '', plain]);
  });

  it('anything else thrown becomes code 999 with its string form', () => {
    expect(CniError.from('oops').toJSON()).toEqual({ code: 999, msg: 'oops' });
    expect(CniError.from(42).toJSON()).toEqual({ code: 999, msg: '42' });
    expect(CniError.from(undefined).toJSON()).toEqual({ code: 999, msg: 'undefined' });
  });

  it('wrap of a plain error is code 999 with the prefix', () => {
    const e = CniError.wrap('failed to open lock', new Error('EACCES'));
    expect(e.toJSON()).toEqual({ code: 999, msg: 'failed to open lock: EACCES' });
  });

  it('keeps a plugin code (100 and up)', () => {
    expect(new CniError(107, 'custom').toJSON()).toEqual({ code: 107, msg: 'custom' });
  });
});

describe('errnoCode', () => {
  it('reads the string code of fs/os errors', () => {
    const err = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(errnoCode(err)).toBe('ENOENT');
  });

  it.each([[new Error('x')], [{ code: 5 }], [null], ['ENOENT'], [undefined]])('is undefined for %j', (v) => {
    expect(errnoCode(v)).toBeUndefined();
  });
});
