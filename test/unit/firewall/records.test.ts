/**
 * The attachment records: one file per (network, container, interface),
 * written whole, read back only when it is ours and intact.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Records } from '../../../plugins/firewall/records.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-rec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rec = (containerId: string, network = 'n1', ifName = 'eth0') => ({ network, containerId, ifName, addresses: [{ family: 4 as const, cidr: '10.0.0.2/32' }] });

describe('Records', () => {
  it('writes, reads, lists and removes by attachment; creates the directory', () => {
    const r = new Records(join(dir, 'a', 'b'));
    expect(r.all()).toEqual([]);
    r.write(rec('c1'));
    r.write(rec('c1', 'n2'));
    r.write(rec('c1', 'n1', 'net1'));
    expect(r.all()).toHaveLength(3);
    expect(r.read('n1', { containerId: 'c1', ifName: 'eth0' })).toEqual(rec('c1'));
    expect(r.read('n1', { containerId: 'c2', ifName: 'eth0' })).toBeUndefined();
    r.remove('n1', { containerId: 'c1', ifName: 'eth0' });
    r.remove('n1', { containerId: 'c1', ifName: 'eth0' });
    expect(r.all().map((x) => `${x.network}/${x.ifName}`).sort()).toEqual(['n1/net1', 'n2/eth0']);
    expect(readdirSync(join(dir, 'a', 'b')).every((f) => /^[0-9a-f]{32}\.json$/.test(f))).toBe(true);
  });

  it('ignores torn, foreign and malformed files', () => {
    const r = new Records(dir);
    r.write(rec('c1'));
    writeFileSync(join(dir, 'torn.json'), '{"network":"n1","contai');
    writeFileSync(join(dir, 'other.json'), '{"network":"n1","containerId":"x","ifName":"eth0","addresses":[{"family":5,"cidr":"x"}]}');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    // a temporary file of a killed writer goes, one of a live writer (this process) stays
    writeFileSync(join(dir, `x.json.2147483646.tmp`), '{}');
    writeFileSync(join(dir, `y.json.${process.pid}.tmp`), '{}');
    expect(r.all()).toEqual([rec('c1')]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([`y.json.${process.pid}.tmp`]);
    // a file at another attachment's name holding someone else's identity is not returned for this one
    writeFileSync(r.fileOf('n1', { containerId: 'c9', ifName: 'eth0' }), JSON.stringify(rec('c1')));
    expect(r.read('n1', { containerId: 'c9', ifName: 'eth0' })).toBeUndefined();
  });
});
