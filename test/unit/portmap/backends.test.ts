/**
 * The backends' batches from a listing (pure): ADD creates the shared chains
 * only when missing, rewrites this container's chain and moves its jumps to
 * the top; DEL finds jumps by their target as the reference's DEL does; the
 * nftables DEL picks only this container's rules of these ports.
 */
import { describe, expect, it } from 'vitest';
import { loadPortMapConfig } from '../../../plugins/portmap/config.ts';
import { Listing, addLines, removeLines } from '../../../plugins/portmap/iptables.ts';
import { type NftRule, rulesToRemove } from '../../../plugins/portmap/nftables.ts';
import { chainName } from '../../../plugins/portmap/plan.ts';

const V4 = { family: 4 as const, ip: '10.88.0.5', cidr: '10.88.0.5/16' };
const cfg = loadPortMapConfig({ cniVersion: '1.0.0', name: 'mynet', type: 'portmap', runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } }, 'eth0');
const DN = chainName('mynet', 'ctr1', 'DN-');

const EMPTY = Listing.parse('-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n');
const READY = Listing.parse(`-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N CNI-HOSTPORT-DNAT
-N CNI-HOSTPORT-MASQ
-N CNI-HOSTPORT-SETMARK
-N ${DN}
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"other\\" id: \\"x\\"" -m multiport --dports 9090 -j CNI-DN-0000000000000000000aa
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport --dports 8080 -j ${DN}
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-A ${DN} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.9:80
`);

describe('iptables batches', () => {
  it('creates everything on an empty table', () => {
    expect(addLines(EMPTY, cfg, 'ctr1', V4)).toEqual([
      '-N CNI-HOSTPORT-SETMARK',
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
      '-N CNI-HOSTPORT-MASQ',
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
      '-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-N CNI-HOSTPORT-DNAT',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      `-N ${DN}`,
      `-A ${DN} -p tcp --dport 8080 -s 10.88.0.5/16 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp --dport 8080 -j DNAT --to-destination 10.88.0.5:80`,
      `-I CNI-HOSTPORT-DNAT 1 -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport -p tcp --destination-ports 8080 -j ${DN}`,
    ]);
  });

  it('leaves the shared chains alone when they exist and rewrites a stale per-container chain', () => {
    expect(addLines(READY, cfg, 'ctr1', V4)).toEqual([
      `-F ${DN}`,
      `-A ${DN} -p tcp --dport 8080 -s 10.88.0.5/16 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp --dport 8080 -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp --dport 8080 -j DNAT --to-destination 10.88.0.5:80`,
      `-D CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport --dports 8080 -j ${DN}`,
      `-I CNI-HOSTPORT-DNAT 1 -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport -p tcp --destination-ports 8080 -j ${DN}`,
    ]);
  });

  it('removes only the container\'s chain and the jumps to it', () => {
    expect(removeLines(READY, [{ dn: DN, sn: chainName('mynet', 'ctr1', 'SN-') }])).toEqual([
      `-D CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport --dports 8080 -j ${DN}`,
      `-F ${DN}`,
      `-X ${DN}`,
    ]);
    expect(removeLines(EMPTY, [{ dn: DN }])).toEqual([]);
  });
});

describe('nftables rules', () => {
  const rules: NftRule[] = [
    { chain: 'hostports', handle: 4, comment: 'ctr1', dport: 8080, addrs: ['10.88.0.5'] },
    { chain: 'hostports', handle: 5, comment: 'ctr1', dport: 9999, addrs: ['10.99.0.5'] },
    { chain: 'hostports', handle: 6, comment: 'ctr2', dport: 8080, addrs: [] },
    { chain: 'masquerading', handle: 7, comment: 'ctr1', dport: undefined, addrs: ['10.88.0.5'] },
    { chain: 'prerouting', handle: 8, comment: undefined, dport: undefined, addrs: [] },
  ];

  it('DEL takes this container\'s rules of these ports (and addresses when known), never another container\'s', () => {
    expect(rulesToRemove(rules, 'ctr1', { hostPorts: [8080], containerIps: [] }).map((r) => r.handle)).toEqual([4, 7]);
    expect(rulesToRemove(rules, 'ctr1', { hostPorts: [8080], containerIps: [{ ...V4, ip: '10.99.0.5' }] }).map((r) => r.handle)).toEqual([4]);
    expect(rulesToRemove(rules, 'ctr1', { hostPorts: [], containerIps: [] }).map((r) => r.handle)).toEqual([4, 5, 7]);
  });
});
