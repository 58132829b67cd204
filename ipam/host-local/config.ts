/**
 * host-local's configuration: read from the whole network config (IPAM
 * plugins get their caller's config), CNI_ARGS, `args` and `runtimeConfig`,
 * turned into typed values once, with the reference's rules and messages
 * (plugins/ipam/host-local/backend/allocator/config.go). Every mistake is
 * code 7 (CNI_ARGS mistakes code 4) and is found before anything is touched.
 */
import { join } from 'node:path';
import { loadCniArgs } from '../../lib/cni/args.ts';
import { type JsonObject, type NetConf, canonicalizeKeys, isObject, validateConf } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { Route } from '../../lib/cni/types/current.ts';
import { versionGte } from '../../lib/cni/version.ts';
import { hostLocalSchema } from '../../build/gen/schemas.mjs';
import { validateHostLocal } from '../../build/gen/validators.mjs';
import { type IP, type IPNet, formatCidr, formatIp, parseCidr, parseIp, parseIpMaybePrefix } from '../../lib/ip.ts';
import { type RangeSpec, RangeConfigError } from './range.ts';
import { type RangeSet, canonicalizeRangeSet, rangeSetFamily, rangeSetsOverlap } from './range-set.ts';
import type { Attachment } from './store.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
/** The native wait takes a signed 32-bit count of milliseconds. */
const MAX_LOCK_TIMEOUT_MS = 2 ** 31 - 1;

type Nullable<T> = T | null | undefined;

type RawRange = { subnet: string; rangeStart?: Nullable<string>; rangeEnd?: Nullable<string>; gateway?: Nullable<string> };
type RawRoute = { dst: string; gw?: Nullable<string>; mtu?: Nullable<number>; advmss?: Nullable<number>; priority?: Nullable<number>; table?: Nullable<number>; scope?: Nullable<number> };
type RawAttachment = { containerID: string; ifname: string };

/** The shape host-local.schema.json guarantees after validation. */
type HostLocalNetConf = JsonObject & {
  cniVersion?: string;
  name?: string;
  ipam: JsonObject & {
    subnet?: Nullable<string>;
    rangeStart?: Nullable<string>;
    rangeEnd?: Nullable<string>;
    gateway?: Nullable<string>;
    ranges?: Nullable<RawRange[][]>;
    routes?: Nullable<RawRoute[]>;
    dataDir?: Nullable<string>;
    resolvConf?: Nullable<string>;
    lockTimeout?: Nullable<number>;
    reclaimEarlierBoots?: Nullable<boolean>;
  };
  runtimeConfig?: Nullable<JsonObject & { ipRanges?: Nullable<RawRange[][]>; ips?: Nullable<string[]> }>;
  args?: Nullable<JsonObject & { cni?: Nullable<JsonObject & { ips?: Nullable<string[]> }> }>;
  'cni.dev/valid-attachments'?: Nullable<RawAttachment[]>;
  'cni.dev/attachments'?: Nullable<RawAttachment[]>;
};

export interface IpamConfig {
  /** The network name: the data directory's last component. */
  name: string;
  cniVersion: string;
  /** `<dataDir>/<name>`. */
  dir: string;
  /** Range sets in allocation order: runtimeConfig.ipRanges, the legacy top-level range, then `ranges`. */
  ranges: RangeSet[];
  routes: Route[];
  resolvConf: string | undefined;
  /** Requested addresses, in order: CNI_ARGS IP, args.cni.ips, runtimeConfig.ips. */
  requested: IP[];
  lockTimeoutMs: number;
  /** `ipam.reclaimEarlierBoots` (default true): leases made before the kernel's last boot are free again. */
  reclaimEarlierBoots: boolean;
  /** GC only: the attachments still valid; undefined when the request names none (then GC releases nothing). */
  validAttachments: Attachment[] | undefined;
}

function invalid(msg: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, msg);
}

function present<T>(v: Nullable<T>): v is T {
  return v !== undefined && v !== null;
}

function ipField(v: Nullable<string>, where: string): IP | undefined {
  // Go's net.IP reads "" as unset
  if (!present(v) || v === '') return undefined;
  const ip = parseIp(v);
  if (ip === undefined) throw invalid(`invalid network config: "${where}" is not an IP address, got ${JSON.stringify(v)}`);
  return ip;
}

function cidrField(v: string, where: string): IPNet {
  const n = parseCidr(v);
  if (n === undefined) throw invalid(`invalid network config: "${where}" is not a CIDR address, got ${JSON.stringify(v)}`);
  return n;
}

function rangeSpec(raw: RawRange, where: string): RangeSpec {
  return {
    subnet: cidrField(raw.subnet, `${where}.subnet`),
    rangeStart: ipField(raw.rangeStart, `${where}.rangeStart`),
    rangeEnd: ipField(raw.rangeEnd, `${where}.rangeEnd`),
    gateway: ipField(raw.gateway, `${where}.gateway`),
  };
}

function rangeSetSpecs(sets: Nullable<RawRange[][]>, where: string): RangeSpec[][] {
  if (!present(sets)) return [];
  return sets.map((set, i) => set.map((r, j) => rangeSpec(r, `${where}.${i}.${j}`)));
}

function parseRoute(raw: RawRoute, where: string): Route {
  const dst = cidrField(raw.dst, `${where}.dst`);
  const route: Route = { dst: formatCidr(dst) };
  const gw = ipField(raw.gw, `${where}.gw`);
  if (gw !== undefined) route.gw = formatIp(gw);
  // the reference omits zero mtu/advmss/priority (omitempty ints) and keeps any table/scope (pointers)
  if (present(raw.mtu) && raw.mtu !== 0) route.mtu = raw.mtu;
  if (present(raw.advmss) && raw.advmss !== 0) route.advmss = raw.advmss;
  if (present(raw.priority) && raw.priority !== 0) route.priority = raw.priority;
  if (present(raw.table)) route.table = raw.table;
  if (present(raw.scope)) route.scope = raw.scope;
  return route;
}

function requestedFromList(list: Nullable<string[]>, where: string): IP[] {
  if (!present(list)) return [];
  return list.map((s, i) => {
    const ip = parseIpMaybePrefix(s);
    if (ip === undefined) throw invalid(`invalid network config: "${where}.${i}" is not an IP address, got ${JSON.stringify(s)}`);
    return ip;
  });
}

/** CNI_ARGS `IP=`: one address or several separated by commas, each with an optional /prefix (ignored). */
function requestedFromCniArgs(cniArgs: string): IP[] {
  const value = loadCniArgs(cniArgs, { known: ['IP'], lenient: true }).get('IP');
  if (value === undefined || value === '') return [];
  return value.split(',').map((item) => {
    const ip = parseIpMaybePrefix(item.trim());
    if (ip === undefined) {
      throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: error parsing value of pair "IP=${value}": invalid IP address ${item.trim()}`);
    }
    return ip;
  });
}

function attachments(conf: HostLocalNetConf): Attachment[] | undefined {
  const lists = [conf['cni.dev/valid-attachments'], conf['cni.dev/attachments']].filter(present);
  if (lists.length === 0) return undefined;
  return lists.flat().map((a) => ({ containerId: a.containerID, ifName: a.ifname }));
}

/** Parses and validates; `cniArgs` is CNI_ARGS as given. */
export function loadIpamConfig(given: NetConf, cniArgs: string): IpamConfig {
  const netConf = canonicalizeKeys(given, hostLocalSchema);
  if (!isObject(netConf['ipam'])) throw invalid("IPAM config missing 'ipam' key");
  const conf = validateConf<HostLocalNetConf>(netConf, hostLocalSchema, validateHostLocal);
  const ipam = conf.ipam;

  const requested = [
    ...requestedFromCniArgs(cniArgs),
    ...requestedFromList(conf.args?.cni?.ips, 'args.cni.ips'),
    ...requestedFromList(conf.runtimeConfig?.ips, 'runtimeConfig.ips'),
  ];

  const specs: RangeSpec[][] = [...rangeSetSpecs(conf.runtimeConfig?.ipRanges, 'runtimeConfig.ipRanges')];
  if (present(ipam.subnet)) {
    specs.push([rangeSpec({ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }, 'ipam')]);
  }
  specs.push(...rangeSetSpecs(ipam.ranges, 'ipam.ranges'));
  if (specs.length === 0) throw invalid('no IP ranges specified');

  const ranges = specs.map((set, i) => {
    try {
      return canonicalizeRangeSet(set);
    } catch (err) {
      if (err instanceof RangeConfigError) throw invalid(`invalid range set ${i}: ${err.message}`);
      throw err;
    }
  });

  const cniVersion = netConf.cniVersion;
  const v4 = ranges.filter((s) => rangeSetFamily(s) === 4).length;
  const v6 = ranges.length - v4;
  if ((v4 > 1 || v6 > 1) && !versionGte(cniVersion, '0.3.0')) {
    throw invalid(`CNI version ${cniVersion} does not support more than 1 address per family`);
  }
  for (let i = 0; i < ranges.length - 1; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangeSetsOverlap(ranges[i]!, ranges[j]!)) throw invalid(`range set ${i} overlaps with ${j}`);
    }
  }

  const routes = (ipam.routes ?? []).map((r, i) => parseRoute(r, `ipam.routes.${i}`));
  const dataDir = present(ipam.dataDir) && ipam.dataDir !== '' ? ipam.dataDir : DEFAULT_DATA_DIR;
  const resolvConf = present(ipam.resolvConf) && ipam.resolvConf !== '' ? ipam.resolvConf : undefined;
  const lockTimeoutMs = present(ipam.lockTimeout) ? Math.min(Math.round(ipam.lockTimeout * 1000), MAX_LOCK_TIMEOUT_MS) : DEFAULT_LOCK_TIMEOUT_MS;

  return {
    name: netConf.name,
    cniVersion,
    dir: join(dataDir, netConf.name),
    ranges,
    routes,
    resolvConf,
    requested,
    lockTimeoutMs,
    reclaimEarlierBoots: ipam.reclaimEarlierBoots !== false,
    validAttachments: attachments(conf),
  };
}
