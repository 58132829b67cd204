/**
 * lib/nft's netlink encoding, pure: a transaction is BATCH_BEGIN, one message
 * per operation (with ACK), BATCH_END; a rule message decodes back to its
 * table, chain, comment and expressions, and to the port and addresses DEL
 * and CHECK look at. (Byte-for-byte agreement with nft is checked against the
 * kernel in test/integration/nft.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp } from '../../../lib/ip.ts';
import { scriptText } from '../../../lib/nft/text.ts';
import type { Op, Table } from '../../../lib/nft/types.ts';
import { NEWRULE_TYPE, batchMessages, decodeRule, ruleFacts } from '../../../lib/nft/wire.ts';

const t: Table = { family: 'ip', name: 'cni_hostport', comment: 'CNI portmap plugin' };
const pod = parseIp('10.88.0.5')!;
const ops: Op[] = [
  { op: 'addTable', table: t },
  { op: 'addChain', chain: { name: 'prerouting', base: { type: 'nat', hook: 'prerouting', priority: -100 } } },
  { op: 'flushChain', chain: 'prerouting' },
  {
    op: 'addRule',
    rule: {
      chain: 'hostports',
      stmts: [{ kind: 'addr', proto: 'ip', field: 'daddr', op: '==', net: parseCidr('192.168.0.1/32')! }, { kind: 'port', proto: 'tcp', field: 'dport', op: '==', port: 8080 }, { kind: 'dnat', addr: pod, port: 80 }],
      comment: 'ctr1',
    },
  },
  { op: 'deleteRule', chain: 'hostports', handle: 7 },
];

describe('nf_tables batch', () => {
  it('frames the operations between BATCH_BEGIN and BATCH_END, the last one acknowledged', () => {
    const msgs = batchMessages(t, ops);
    expect(msgs.map((m) => m.type)).toEqual([0x10, 0x0a00, 0x0a03, 0x0a08, 0x0a06, 0x0a08, 0x11]);
    expect(msgs.map((m) => (m.flags & 0x4) !== 0)).toEqual([false, false, false, false, false, true, false]);
    expect(msgs[0]!.body.readUInt16BE(2)).toBe(10); // res_id: NFNL_SUBSYS_NFTABLES
    expect(msgs[4]!.flags & 0xc00).toBe(0xc00); // NLM_F_CREATE | NLM_F_APPEND
  });

  it('decodes a rule message back to its chain, comment, port and addresses', () => {
    const rule = batchMessages(t, ops).find((m) => m.type === NEWRULE_TYPE)!;
    const d = decodeRule(rule.body);
    expect({ table: d.table, chain: d.chain, comment: d.comment }).toEqual({ table: 'cni_hostport', chain: 'hostports', comment: 'ctr1' });
    expect(d.exprs.map((e) => e.name)).toEqual(['payload', 'cmp', 'meta', 'cmp', 'payload', 'cmp', 'immediate', 'immediate', 'nat']);
    expect(ruleFacts(d)).toEqual({ dport: 8080, addrs: ['192.168.0.1', '10.88.0.5'] });
  });

  it('refuses what nft could not express: a statement of the wrong family, dnat in inet', () => {
    const v6 = { op: 'addRule', rule: { chain: 'c', stmts: [{ kind: 'addr', proto: 'ip6', field: 'saddr', op: '==', net: parseCidr('fd00::/8')! }] } } as const;
    expect(() => batchMessages(t, [v6])).toThrow(/ip6 saddr/);
    expect(() => batchMessages({ family: 'inet', name: 'x' }, [{ op: 'addRule', rule: { chain: 'c', stmts: [{ kind: 'dnat', addr: pod, port: 1 }] } }])).toThrow(/dnat/);
  });

  it('prints the same transaction as an nft script, refusing names and comments that would break it', () => {
    expect(scriptText(t, ops)).toContain('add rule ip cni_hostport hostports ip daddr 192.168.0.1 tcp dport 8080 dnat to 10.88.0.5:80 comment "ctr1"');
    expect(() => scriptText(t, [{ op: 'addRule', rule: { chain: 'c', stmts: [], comment: 'x" ; add table ip y ; "' } }])).toThrow(/invalid nftables comment/);
    expect(() => scriptText(t, [{ op: 'flushChain', chain: 'c;d' }])).toThrow(/invalid nftables chain name/);
  });
});
