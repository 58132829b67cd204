/**
 * The rules the firewall plugin makes, against the reference's (chains,
 * comments, order, /32 and /128, the ingress policy's chains), computed
 * against listings: only what is missing is added, DEL removes every copy
 * of the pod's rules and nothing else, CHECK names what is missing.
 */
import { describe, expect, it } from 'vitest';
import { Listing, addressesOf, checkProblems, planAdd, planIsolation, planRemove } from '../../../plugins/firewall/plan.ts';

const EMPTY = Listing.parse('-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n');

/** What `iptables -S` prints after the reference's ADD of 10.88.0.5. */
const AFTER_ADD = Listing.parse(
  [
    '-P INPUT ACCEPT',
    '-P FORWARD ACCEPT',
    '-P OUTPUT ACCEPT',
    '-N CNI-ADMIN',
    '-N CNI-FORWARD',
    '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
    '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
    '-A CNI-FORWARD -d 10.88.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A CNI-FORWARD -s 10.88.0.5/32 -j ACCEPT',
  ].join('\n'),
);

describe('planAdd', () => {
  it('makes the reference chains, jumps and per-address rules on an empty table', () => {
    expect(planAdd(EMPTY, 'CNI-ADMIN', ['10.88.0.5/32']).lines).toEqual([
      '-N CNI-FORWARD',
      '-N CNI-ADMIN',
      '-I FORWARD 1 -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
      '-I CNI-FORWARD 1 -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN',
      '-A CNI-FORWARD -d 10.88.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A CNI-FORWARD -s 10.88.0.5/32 -j ACCEPT',
    ]);
  });

  it('adds nothing that is there already (a repeated ADD is a no-op), only the new pod rules', () => {
    expect(planAdd(AFTER_ADD, 'CNI-ADMIN', ['10.88.0.5/32']).lines).toEqual([]);
    const b = planAdd(AFTER_ADD, 'CNI-ADMIN', ['10.88.0.6/32', '10.88.0.6/32']);
    expect(b.lines).toEqual(['-A CNI-FORWARD -d 10.88.0.6/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A CNI-FORWARD -s 10.88.0.6/32 -j ACCEPT']);
    expect(b.added.map((r) => r.chain)).toEqual(['CNI-FORWARD', 'CNI-FORWARD']);
  });

  it('uses the configured admin chain; nothing without addresses', () => {
    expect(planAdd(AFTER_ADD, 'MY-ADMIN', ['10.88.0.5/32']).lines).toEqual(['-N MY-ADMIN', '-I CNI-FORWARD 1 -m comment --comment "CNI firewall plugin admin overrides" -j MY-ADMIN']);
    expect(planAdd(EMPTY, 'CNI-ADMIN', []).lines).toEqual([]);
  });

  it('splits addresses by family', () => {
    const addrs = [{ family: 4 as const, cidr: '10.0.0.1/32' }, { family: 6 as const, cidr: 'fd00::1/128' }, { family: 4 as const, cidr: '10.0.0.1/32' }];
    expect(addressesOf(addrs, 4)).toEqual(['10.0.0.1/32']);
    expect(addressesOf(addrs, 6)).toEqual(['fd00::1/128']);
  });
});

describe('planRemove', () => {
  it('removes the pod rules (every copy), never the shared jumps', () => {
    expect(planRemove(AFTER_ADD, ['10.88.0.5/32'])).toEqual(['-D CNI-FORWARD -d 10.88.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-D CNI-FORWARD -s 10.88.0.5/32 -j ACCEPT']);
    const twice = new Listing([...AFTER_ADD.lines, ['-A', 'CNI-FORWARD', '-s', '10.88.0.5/32', '-j', 'ACCEPT']]);
    expect(planRemove(twice, ['10.88.0.5/32']).filter((l) => l.startsWith('-D CNI-FORWARD -s'))).toHaveLength(2);
    expect(planRemove(AFTER_ADD, ['10.88.0.9/32'])).toEqual([]);
    expect(planRemove(EMPTY, ['10.88.0.5/32'])).toEqual([]);
  });
});

describe('checkProblems', () => {
  it('passes on the reference layout, names each missing piece', () => {
    expect(checkProblems(AFTER_ADD, 'CNI-ADMIN', ['10.88.0.5/32'])).toEqual([]);
    expect(checkProblems(AFTER_ADD, 'CNI-ADMIN', [])).toEqual([]);
    const p = checkProblems(AFTER_ADD, 'CNI-ADMIN', ['10.88.0.6/32']);
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/expected rule \[-d 10\.88\.0\.6\/32 .*\] not found/);
    expect(checkProblems(EMPTY, 'CNI-ADMIN', ['10.88.0.5/32'])).toEqual([
      'chain CNI-FORWARD not found',
      'chain CNI-ADMIN not found',
      'expected FORWARD rule [-m comment --comment CNI firewall plugin rules -j CNI-FORWARD] not found',
      'expected CNI-FORWARD rule [-m comment --comment CNI firewall plugin admin overrides -j CNI-ADMIN] not found',
      'expected rule [-d 10.88.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT] not found',
      'expected rule [-s 10.88.0.5/32 -j ACCEPT] not found',
    ]);
  });
});

describe('planIsolation', () => {
  it('same-bridge: the reference chains, in its order, with its comments', () => {
    expect(planIsolation(EMPTY, 'cni0', 'same-bridge').lines).toEqual([
      '-N CNI-ISOLATION-STAGE-1',
      '-N CNI-ISOLATION-STAGE-2',
      '-I FORWARD 1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j CNI-ISOLATION-STAGE-1',
      '-I CNI-ISOLATION-STAGE-1 1 -i cni0 ! -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
      '-A CNI-ISOLATION-STAGE-1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j RETURN',
      '-I CNI-ISOLATION-STAGE-2 1 -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j DROP',
      '-A CNI-ISOLATION-STAGE-2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j RETURN',
    ]);
  });

  it('isolated adds the same-bridge DROP ahead of the bridge rule', () => {
    const lines = planIsolation(EMPTY, 'cni0', 'isolated').lines;
    expect(lines[4]).toBe('-I CNI-ISOLATION-STAGE-1 1 -i cni0 -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: isolated)" -j DROP');
  });

  it('adds nothing twice', () => {
    const l = Listing.parse(
      [
        '-N CNI-ISOLATION-STAGE-1',
        '-N CNI-ISOLATION-STAGE-2',
        '-A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j CNI-ISOLATION-STAGE-1',
        '-A CNI-ISOLATION-STAGE-1 -i cni0 ! -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
        '-A CNI-ISOLATION-STAGE-1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j RETURN',
        '-A CNI-ISOLATION-STAGE-2 -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j DROP',
        '-A CNI-ISOLATION-STAGE-2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j RETURN',
      ].join('\n'),
    );
    expect(planIsolation(l, 'cni0', 'same-bridge').lines).toEqual([]);
    expect(planIsolation(l, 'cni1', 'same-bridge').lines).toHaveLength(2);
  });
});
