/**
 * The delegate config is the one the reference builds, byte for byte (Go's
 * json.Marshal of the map), for every case of the reference's own test suite
 * (flannel_linux_test.go) and for kube-flannel's and k3s' configs.
 */
import { describe, expect, it } from 'vitest';
import type { NetConf } from '../../../lib/cni/conf.ts';
import { CniError } from '../../../lib/cni/errors.ts';
import { loadFlannelConf } from '../../../plugins/flannel/config.ts';
import { buildDelegate, marshalDelegate, rangeSubnets } from '../../../plugins/flannel/delegate.ts';
import { parseSubnetEnv } from '../../../plugins/flannel/subnet-env.ts';

const V4 = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const V6 = 'FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const DUAL = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const MULTI = 'FLANNEL_NETWORK=10.1.0.0/16,192.168.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';
const USER_ROUTES = [{ dst: '10.96.0.0/12' }, { dst: '192.168.244.0/24', gw: '10.1.17.20' }];

/** Builds as ADD does: the protocol layer's conf (cniVersion filled in) plus the raw bytes. */
function render(conf: Record<string, unknown>, subnetEnv: string): string {
  const raw = Buffer.from(JSON.stringify(conf));
  const netconf = { ...conf, cniVersion: typeof conf['cniVersion'] === 'string' ? conf['cniVersion'] : '0.1.0', type: 'flannel' } as NetConf;
  return marshalDelegate(buildDelegate(loadFlannelConf(netconf, raw), parseSubnetEnv(subnetEnv, '/s'))).toString();
}

function renderError(conf: Record<string, unknown>, subnetEnv = V4): CniError {
  try {
    render(conf, subnetEnv);
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('built without error');
}

const base = { name: 'cni-flannel', type: 'flannel', subnetFile: '/s', dataDir: '/d' };

describe('buildDelegate: the reference test suite cases', () => {
  it('IPv4: bridge, ipMasq inverted, MTU from subnet.env, isGateway, host-local with ranges and a route to the network; no cniVersion when the config has none', () => {
    expect(render(base, V4)).toBe(
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
    );
  });

  it('two networks: one route each', () => {
    expect(JSON.parse(render(base, MULTI))).toMatchObject({ ipam: { routes: [{ dst: '10.1.0.0/16' }, { dst: '192.168.0.0/16' }] } });
  });

  it('IPv6 only', () => {
    expect(render(base, V6)).toBe(
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"fc00::/64"}]],"routes":[{"dst":"fc00::/48"}],"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}',
    );
  });

  it('dual stack: IPv4 range first, then IPv6; routes likewise', () => {
    expect(JSON.parse(render(base, DUAL))).toMatchObject({
      ipam: { ranges: [[{ subnet: '10.1.17.0/24' }], [{ subnet: 'fc00::/64' }]], routes: [{ dst: '10.1.0.0/16' }, { dst: 'fc00::/48' }] },
    });
  });

  it.each([
    ['IPv4', V4, [[{ subnet: '10.1.17.0/24' }]], [{ dst: '10.1.0.0/16' }]],
    ['IPv6', V6, [[{ subnet: 'fc00::/64' }]], [{ dst: 'fc00::/48' }]],
    ['dual stack', DUAL, [[{ subnet: '10.1.17.0/24' }], [{ subnet: 'fc00::/64' }]], [{ dst: '10.1.0.0/16' }, { dst: 'fc00::/48' }]],
  ])('%s with a user ipam: its keys kept, its type kept, its routes first, ranges set', (_what, env, ranges, netRoutes) => {
    const got = JSON.parse(render({ ...base, ipam: { type: 'my-ipam', 'unknown-param': 'unknown-value', routes: USER_ROUTES } }, env)) as { ipam: unknown };
    expect(got.ipam).toEqual({ type: 'my-ipam', 'unknown-param': 'unknown-value', routes: [...USER_ROUTES, ...netRoutes], ranges });
  });

  it('a user ipam without type gets host-local', () => {
    const got = JSON.parse(render({ ...base, ipam: { 'unknown-param': 'unknown-value', routes: USER_ROUTES } }, V4)) as { ipam: Record<string, unknown> };
    expect(got.ipam['type']).toBe('host-local');
  });
});

describe('buildDelegate: kube-flannel and k3s', () => {
  it("kube-flannel's delegate with flanneld --ip-masq, byte for byte what the Go plugin saves", () => {
    const conf = { cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } };
    expect(render(conf, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')).toBe(
      '{"cniVersion":"1.0.0","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}',
    );
  });

  it("k3s' delegate (forceAddress) keeps unknown keys for the bridge", () => {
    const conf = { cniVersion: '1.0.0', name: 'cbr0', type: 'flannel', delegate: { hairpinMode: true, forceAddress: true, isDefaultGateway: true } };
    expect(JSON.parse(render(conf, V4))).toMatchObject({ forceAddress: true, hairpinMode: true, isDefaultGateway: true, cniVersion: '1.0.0' });
  });

  it('FLANNEL_IPMASQ=false: the delegate masquerades', () => {
    expect(JSON.parse(render(base, V4.replace('IPMASQ=true', 'IPMASQ=false')))).toMatchObject({ ipMasq: true });
  });
});

describe('buildDelegate: what the user sets wins', () => {
  it('keeps ipMasq, mtu, isGateway and cniVersion-independent keys of the user delegate', () => {
    const got = JSON.parse(render({ ...base, delegate: { ipMasq: true, mtu: 1400, isGateway: false, bridge: 'cni7' } }, V4)) as Record<string, unknown>;
    expect(got).toMatchObject({ ipMasq: true, mtu: 1400, isGateway: false, bridge: 'cni7', type: 'bridge' });
  });

  it('another delegate type gets no isGateway', () => {
    const got = JSON.parse(render({ ...base, delegate: { type: 'ipvlan', master: 'eth0' } }, V4)) as Record<string, unknown>;
    expect(got['type']).toBe('ipvlan');
    expect(got).not.toHaveProperty('isGateway');
  });

  it("flannel's runtimeConfig replaces the delegate's (capabilities declared on flannel reach the bridge)", () => {
    const rc = { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }], ips: ['10.1.17.9/24'] };
    const got = JSON.parse(render({ ...base, delegate: { runtimeConfig: { mac: 'x' } }, runtimeConfig: rc }, V4)) as Record<string, unknown>;
    expect(got['runtimeConfig']).toEqual(rc);
  });

  it('a user delegate cniVersion is replaced by the config version', () => {
    const got = JSON.parse(render({ ...base, cniVersion: '0.4.0', delegate: { cniVersion: '0.3.1' } }, V4)) as Record<string, unknown>;
    expect(got['cniVersion']).toBe('0.4.0');
  });

  it('matches flannel keys case-insensitively, as Go does (SubnetFile, Delegate)', () => {
    const raw = { name: 'n', type: 'flannel', SubnetFile: '/x/subnet.env', DataDir: '/x/data', Delegate: { mtu: 9000 } };
    const conf = loadFlannelConf({ ...raw, cniVersion: '0.1.0' }, Buffer.from(JSON.stringify(raw)));
    expect(conf).toMatchObject({ subnetFile: '/x/subnet.env', dataDir: '/x/data', delegate: { mtu: 9000 } });
  });

  it('defaults subnetFile and dataDir (also for null and "")', () => {
    for (const v of [undefined, null, '']) {
      const raw = { name: 'n', type: 'flannel', subnetFile: v, dataDir: v };
      expect(loadFlannelConf({ ...raw, cniVersion: '0.1.0' })).toMatchObject({ subnetFile: '/run/flannel/subnet.env', dataDir: '/var/lib/cni/flannel' });
    }
  });
});

describe('buildDelegate: routes as Go re-encodes them (types.Route)', () => {
  it('prints route keys in struct order, canonical addresses, zero numbers dropped, unknown keys dropped, keys matched case-insensitively', () => {
    const routes = [{ Dst: '10.96.0.5/12', GW: '10.1.17.20', mtu: 0, priority: 5, table: 0, scope: null, extra: 1 }, { dst: 'FC00:0:0::/48' }];
    const out = render({ ...base, ipam: { routes } }, V4);
    expect(out).toContain('"routes":[{"dst":"10.96.0.5/12","gw":"10.1.17.20","priority":5,"table":0},{"dst":"fc00::/48"},{"dst":"10.1.0.0/16"}]');
  });

  it('null routes are no routes', () => {
    expect(JSON.parse(render({ ...base, ipam: { routes: null } }, V4))).toMatchObject({ ipam: { routes: [{ dst: '10.1.0.0/16' }] } });
  });

  it.each([
    [{ routes: 'x' }, 'routes must be a list, got "x"'],
    [{ routes: [{}] }, 'routes[0].dst must be a CIDR string, got undefined'],
    [{ routes: [{ dst: '10.0.0.0' }] }, 'routes[0].dst: invalid CIDR address: 10.0.0.0'],
    [{ routes: [{ dst: '10.0.0.0/8', gw: 'gw' }] }, 'routes[0].gw: invalid IP address: gw'],
    [{ routes: [{ dst: '10.0.0.0/8', mtu: 1.5 }] }, 'routes[0].mtu must be an integer, got 1.5'],
  ])('refuses ipam %j with the reference prefix, code 7', (ipam, detail) => {
    const e = renderError({ ...base, ipam });
    expect(e.code).toBe(7);
    expect(e.msg).toBe(`failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: ${detail}`);
  });
});

describe('buildDelegate: the reference checks on delegate', () => {
  it.each([
    [{ type: 5 }, "'delegate' dictionary, if present, must have (string) 'type' field"],
    [{ type: null }, "'delegate' dictionary, if present, must have (string) 'type' field"],
    [{ name: 'x' }, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    [{ ipam: {} }, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"],
  ])('refuses delegate %j (code 7)', (delegate, msg) => {
    const e = renderError({ ...base, delegate });
    expect(e.code).toBe(7);
    expect(e.msg).toBe(msg);
  });

  it('refuses a delegate that is not an object, naming the key', () => {
    const e = renderError({ ...base, delegate: 'bridge' });
    expect(e.code).toBe(7);
    expect(e.msg).toContain('"delegate"');
  });
});

describe('marshalDelegate', () => {
  it("escapes <, > and & as Go's encoder does", () => {
    const got = render({ ...base, delegate: { note: '<a&b>' } }, V4);
    expect(got).toContain('"note":"\\u003ca\\u0026b\\u003e"');
    expect(JSON.parse(got)).toMatchObject({ note: '<a&b>' });
  });
});

describe('rangeSubnets', () => {
  it('reads the node subnets back from a saved config', () => {
    expect(rangeSubnets(JSON.parse(render(base, DUAL)) as Record<string, unknown>)).toEqual(['10.1.17.0/24', 'fc00::/64']);
    expect(rangeSubnets({ ipam: { ranges: 'x' } })).toBeUndefined();
  });
});
