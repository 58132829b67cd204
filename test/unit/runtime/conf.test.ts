import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confFiles, confListFromBytes, loadNetworkConf, NoConfigsFoundError, NotFoundError, pluginConfFromBytes } from '../../../lib/runtime/index.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rt-conf-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, v: unknown): void => writeFileSync(join(dir, name), typeof v === 'string' ? v : JSON.stringify(v));

describe('confFiles', () => {
  it('keeps exact extensions in byte order and skips directories; a missing dir is empty', () => {
    write('b.conf', '{}');
    write('A.conf', '{}');
    write('c.CONF', '{}');
    write('d.conflist', '{}');
    mkdirSync(join(dir, 'e.conf'));
    expect(confFiles(dir, ['.conf'])).toEqual([join(dir, 'A.conf'), join(dir, 'b.conf')]);
    expect(confFiles(join(dir, 'nope'), ['.conf'])).toEqual([]);
  });
});

describe('loadNetworkConf', () => {
  it('prefers a .conflist, first match by name in sorted order', () => {
    write('20-b.conflist', { name: 'net', cniVersion: '1.0.0', plugins: [{ type: 'second' }] });
    write('10-a.conflist', { name: 'net', cniVersion: '1.0.0', plugins: [{ type: 'first' }] });
    write('05.conf', { name: 'net', type: 'single' });
    const list = loadNetworkConf(dir, 'net');
    expect(list.plugins.map((p) => p.type)).toEqual(['first']);
  });

  it('wraps a single .conf as a list with libcni synthetic bytes (sorted keys, compact)', () => {
    write('10.conf', { type: 'bridge', name: 'net', cniVersion: '0.4.0', zeta: 1, alpha: { b: 1, a: 2 } });
    const list = loadNetworkConf(dir, 'net');
    expect(list.cniVersion).toBe('0.4.0');
    expect(list.bytes.toString()).toBe('{"cniVersion":"0.4.0","name":"net","plugins":[{"alpha":{"a":2,"b":1},"cniVersion":"0.4.0","name":"net","type":"bridge","zeta":1}]}');
  });

  it('a .conf without cniVersion gives list version ""', () => {
    write('10.json', { type: 'bridge', name: 'net' });
    expect(loadNetworkConf(dir, 'net').cniVersion).toBe('');
  });

  it('errors as libcni: not found, none found, unparsable file first aborts', () => {
    expect(() => loadNetworkConf(dir, 'net')).toThrow(new NoConfigsFoundError(dir).message);
    write('10.conflist', { name: 'other', plugins: [{ type: 'x' }] });
    expect(() => loadNetworkConf(dir, 'net')).toThrow(new NotFoundError(dir, 'net').message);
    write('05.conflist', '{ nope');
    expect(() => loadNetworkConf(dir, 'other')).toThrow(/^error parsing configuration list: /);
  });

  it('appends <dir>/<name>/*.conf plugins unless loadOnlyInlinedPlugins', () => {
    write('10.conflist', { name: 'net', cniVersion: '1.1.0', plugins: [{ type: 'a' }] });
    mkdirSync(join(dir, 'net'));
    writeFileSync(join(dir, 'net', '20-b.conf'), JSON.stringify({ type: 'b' }));
    expect(loadNetworkConf(dir, 'net').plugins.map((p) => p.type)).toEqual(['a', 'b']);
    write('10.conflist', { name: 'net', cniVersion: '1.1.0', loadOnlyInlinedPlugins: true, plugins: [{ type: 'a' }] });
    expect(loadNetworkConf(dir, 'net').plugins.map((p) => p.type)).toEqual(['a']);
  });
});

describe('confListFromBytes', () => {
  const parse = (v: unknown): ReturnType<typeof confListFromBytes> => confListFromBytes(Buffer.from(JSON.stringify(v)));

  it('cniVersions picks the highest version libcni knows, ignoring newer ones', () => {
    expect(parse({ name: 'n', cniVersion: '0.4.0', cniVersions: ['1.0.0', '9.0.0'], plugins: [{ type: 'x' }] }).cniVersion).toBe('1.0.0');
    expect(parse({ name: 'n', cniVersions: ['1.1.0', '0.3.1'], plugins: [{ type: 'x' }] }).cniVersion).toBe('1.1.0');
  });

  it('reads disableCheck/disableGC as bools or strings', () => {
    const l = parse({ name: 'n', disableCheck: 'TRUE', disableGC: true, plugins: [{ type: 'x' }] });
    expect([l.disableCheck, l.disableGC]).toEqual([true, true]);
    expect(() => parse({ name: 'n', disableCheck: 'yes', plugins: [{ type: 'x' }] })).toThrow('error parsing configuration list: invalid value "yes" for disableCheck');
    expect(() => parse({ name: 'n', disableCheck: 1, plugins: [{ type: 'x' }] })).toThrow('error parsing configuration list: invalid type float64 for disableCheck');
  });

  it('refuses what libcni refuses', () => {
    expect(() => parse({ plugins: [] })).toThrow('error parsing configuration list: no name');
    expect(() => parse({ name: 1 })).toThrow('error parsing configuration list: invalid name type float64');
    expect(() => parse({ name: 'n', plugins: [] })).toThrow('error parsing configuration list: no plugins in list');
    expect(() => parse({ name: 'n', plugins: {} })).toThrow("error parsing configuration list: invalid 'plugins' type map[string]interface {}");
    expect(() => parse({ name: 'n', plugins: [{ name: 'x' }] })).toThrow("failed to parse plugin config 0: error parsing configuration: missing 'type'");
  });

  it('plugin bytes are the object re-encoded as a Go map', () => {
    const l = parse({ name: 'n', plugins: [{ type: 'x', b: '<&>', a: 1 }] });
    expect(l.plugins[0]!.bytes.toString()).toBe('{"a":1,"b":"\\u003c\\u0026\\u003e","type":"x"}');
  });
});

describe('pluginConfFromBytes', () => {
  it('capabilities must be a map of bools', () => {
    expect(pluginConfFromBytes(Buffer.from('{"type":"x","capabilities":{"portMappings":true}}')).capabilities).toEqual({ portMappings: true });
    expect(() => pluginConfFromBytes(Buffer.from('{"type":"x","capabilities":{"a":"yes"}}'))).toThrow(/cannot unmarshal string/);
  });
});
