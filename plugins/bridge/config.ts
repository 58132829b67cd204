/**
 * The bridge plugin's configuration, read once into a typed value with the
 * reference's types, defaults and checks (containernetworking/plugins
 * plugins/main/bridge/bridge.go loadNetConf and the checks at the top of
 * cmdAdd). Every mistake is found here, before anything is created: a wrong
 * type or a bad value or combination is code 7 naming the key (CNI_ARGS
 * mistakes are code 4).
 */
import { loadCniArgs } from '../../lib/cni/args.ts';
import { type JsonObject, type NetConf, validateConf } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { DNS } from '../../lib/cni/types/current.ts';
import { bridgeSchema } from '../../build/gen/schemas.mjs';
import { validateBridge } from '../../build/gen/validators.mjs';

export const DEFAULT_BRIDGE = 'cni0';
export type MasqBackendName = 'iptables' | 'nftables';

type Nullable<T> = T | null | undefined;

interface RawTrunk {
  id?: Nullable<number>;
  minID?: Nullable<number>;
  maxID?: Nullable<number>;
}

interface RawAttachment {
  containerID: string;
  ifname: string;
}

/** The shape bridge.schema.json guarantees after validation. */
type RawBridgeConf = NetConf & {
  bridge?: Nullable<string>;
  isGateway?: Nullable<boolean>;
  isDefaultGateway?: Nullable<boolean>;
  forceAddress?: Nullable<boolean>;
  ipMasq?: Nullable<boolean>;
  ipMasqBackend?: Nullable<string>;
  mtu?: Nullable<number>;
  hairpinMode?: Nullable<boolean>;
  promiscMode?: Nullable<boolean>;
  vlan?: Nullable<number>;
  vlanTrunk?: Nullable<Nullable<RawTrunk>[]>;
  preserveDefaultVlan?: Nullable<boolean>;
  macspoofchk?: Nullable<boolean>;
  enabledad?: Nullable<boolean>;
  disableContainerInterface?: Nullable<boolean>;
  portIsolation?: Nullable<boolean>;
  ipam?: Nullable<JsonObject & { type?: Nullable<string> }>;
  dns?: Nullable<DnsRaw>;
  args?: Nullable<JsonObject & { cni?: Nullable<JsonObject & { mac?: Nullable<string> }> }>;
  runtimeConfig?: Nullable<JsonObject & { mac?: Nullable<string> }>;
  'cni.dev/valid-attachments'?: Nullable<RawAttachment[]>;
  'cni.dev/attachments'?: Nullable<RawAttachment[]>;
};

interface DnsRaw {
  nameservers?: Nullable<string[]>;
  domain?: Nullable<string>;
  search?: Nullable<string[]>;
  options?: Nullable<string[]>;
}

export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface BridgeConfig {
  name: string;
  cniVersion: string;
  bridge: string;
  /** True when isGateway or isDefaultGateway is set. */
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  /** Unset: iptables if usable, else nftables (the reference's default). */
  ipMasqBackend: MasqBackendName | undefined;
  /** 0: the kernel's default. */
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  /** 0: none. */
  vlan: number;
  /** Tagged VIDs of the trunk, sorted and unique; empty when there is no trunk. */
  vlanTrunk: number[];
  /** Whether `vlanTrunk` was given at all (the reference turns vlan_filtering on even for an empty list). */
  hasTrunk: boolean;
  preserveDefaultVlan: boolean;
  macspoofchk: boolean;
  enableDad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** `ipam.type`; undefined for a layer-2-only network. */
  ipamType: string | undefined;
  /** The top-level `dns`, when any of its fields is set: it replaces IPAM's. */
  dns: DNS | undefined;
  /** Container MAC: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC (normalised: lower case, colons). */
  mac: string | undefined;
  /** GC only: the attachments still valid; undefined when the request names none. */
  validAttachments: Attachment[] | undefined;
}

function invalid(msg: string, details = ''): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, msg, details);
}

const bool = (v: Nullable<boolean>): boolean => v === true;

/** Linux interface names: 1-15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/u.test(name)) return 'contains "/", ":" or whitespace';
  return undefined;
}

/**
 * A MAC address as Go's net.ParseMAC reads a 6-byte one ("aa:bb:cc:dd:ee:ff",
 * "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff"), as lower-case colon text; undefined if it is not one.
 */
export function parseMacText(text: string): string | undefined {
  let hex: string | undefined;
  if (/^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/.test(text)) hex = text.replace(/[:-]/g, '');
  else if (/^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$/.test(text)) hex = text.replace(/\./g, '');
  if (hex === undefined) return undefined;
  return hex.toLowerCase().replace(/(..)(?!$)/g, '$1:');
}

function macField(value: string, where: string, code: number): string {
  const mac = parseMacText(value);
  const fail = (why: string): CniError =>
    new CniError(code, `invalid ${where === 'CNI_ARGS MAC' ? 'CNI_ARGS' : 'network config'}: "${where}" ${why}, got ${JSON.stringify(value)}`);
  if (mac === undefined) throw fail('is not a MAC address');
  // the kernel refuses a multicast address on an Ethernet device (EADDRNOTAVAIL)
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) throw fail('is a multicast MAC address');
  return mac;
}

/** The reference's collectVlanTrunk: sorted unique VIDs, with its messages. */
export function collectVlanTrunk(trunk: readonly Nullable<RawTrunk>[]): number[] {
  const vids = new Set<number>();
  for (const item of trunk) {
    if (item === null || item === undefined) continue;
    const min = item.minID ?? undefined;
    const max = item.maxID ?? undefined;
    if (min !== undefined && max !== undefined) {
      if (min <= 0 || min > 4094) throw invalid('incorrect trunk minID parameter');
      if (max <= 0 || max > 4094) throw invalid('incorrect trunk maxID parameter');
      if (max < min) throw invalid('minID is greater than maxID in trunk parameter');
      for (let v = min; v <= max; v++) vids.add(v);
    } else if (min === undefined && max !== undefined) {
      throw invalid('minID and maxID should be configured simultaneously, minID is missing');
    } else if (min !== undefined && max === undefined) {
      throw invalid('minID and maxID should be configured simultaneously, maxID is missing');
    }
    const id = item.id ?? undefined;
    if (id !== undefined) {
      if (id <= 0 || id > 4094) throw invalid('incorrect trunk id parameter');
      vids.add(id);
    }
  }
  return [...vids].sort((a, b) => a - b);
}

function dnsOverride(raw: Nullable<DnsRaw>): DNS | undefined {
  if (raw === null || raw === undefined) return undefined;
  const dns: DNS = {};
  if (raw.nameservers !== null && raw.nameservers !== undefined && raw.nameservers.length > 0) dns.nameservers = [...raw.nameservers];
  if (raw.domain !== null && raw.domain !== undefined && raw.domain !== '') dns.domain = raw.domain;
  if (raw.search !== null && raw.search !== undefined && raw.search.length > 0) dns.search = [...raw.search];
  if (raw.options !== null && raw.options !== undefined && raw.options.length > 0) dns.options = [...raw.options];
  return Object.keys(dns).length === 0 ? undefined : dns;
}

function attachments(conf: RawBridgeConf): Attachment[] | undefined {
  const lists = [conf['cni.dev/valid-attachments'], conf['cni.dev/attachments']].filter((l): l is RawAttachment[] => l !== null && l !== undefined);
  if (lists.length === 0) return undefined;
  return lists.flat().map((a) => ({ containerId: a.containerID, ifName: a.ifname }));
}

export interface LoadOptions {
  /**
   * For DEL and GC: only a config that cannot be read (a wrong JSON type) is
   * an error; the checks of values and combinations that ADD enforces are
   * skipped (a failed check becomes the default), so that a config ADD
   * refused can still be DELeted and a pod is never stuck on it.
   */
  teardown?: boolean;
}

/**
 * Parses and checks the configuration. `cniArgs` is CNI_ARGS as given (only
 * `MAC` is read; unknown keys are ignored, as in a chain they must be).
 */
export function loadBridgeConfig(netConf: NetConf, cniArgs: string, opts: LoadOptions = {}): BridgeConfig {
  const raw = validateConf<RawBridgeConf>(netConf, bridgeSchema, validateBridge);
  const guard = <T>(fn: () => T, fallback: T): T => {
    if (opts.teardown !== true) return fn();
    try {
      return fn();
    } catch (err) {
      if (err instanceof CniError) return fallback;
      throw err;
    }
  };

  const bridge = raw.bridge ?? DEFAULT_BRIDGE;
  guard(() => {
    const nameProblem = interfaceNameProblem(bridge);
    if (nameProblem !== undefined) throw invalid(`invalid network config: "bridge" ${nameProblem}, got ${JSON.stringify(bridge)}`);
  }, undefined);

  const vlan = guard(() => {
    const v = raw.vlan ?? 0;
    if (v < 0 || v > 4094) throw invalid(`invalid VLAN ID ${v} (must be between 0 and 4094)`);
    return v;
  }, 0);
  const hasTrunk = raw.vlanTrunk !== null && raw.vlanTrunk !== undefined;
  const vlanTrunk = guard(() => (hasTrunk ? collectVlanTrunk(raw.vlanTrunk ?? []) : []), []);
  guard(() => {
    // isGateway with a VLAN puts the gateway on a "<bridge>.<vlan>" device
    if (vlan > 0 && Buffer.byteLength(`${bridge}.${vlan}`) > 15 && (bool(raw.isGateway) || bool(raw.isDefaultGateway))) {
      throw invalid(`invalid network config: the VLAN gateway device name "${bridge}.${vlan}" is longer than 15 bytes`, 'use a shorter "bridge" name');
    }
  }, undefined);

  const mtu = guard(() => {
    const m = raw.mtu ?? 0;
    if (m !== 0 && (m < 68 || m > 65535)) throw invalid(`invalid network config: "mtu" must be 0 (kernel default) or 68-65535, got ${m}`);
    return m;
  }, 0);

  const ipMasqBackend = guard((): MasqBackendName | undefined => {
    const backend = raw.ipMasqBackend ?? undefined;
    if (backend === undefined) return undefined;
    if (backend !== 'iptables' && backend !== 'nftables') throw invalid(`unknown ipmasq backend ${JSON.stringify(backend)}`);
    return backend;
  }, undefined);

  const hairpinMode = bool(raw.hairpinMode);
  const promiscMode = bool(raw.promiscMode);
  guard(() => {
    if (hairpinMode && promiscMode) throw invalid('cannot set hairpin mode and promiscuous mode at the same time');
  }, undefined);

  const ipamTypeRaw = raw.ipam?.type ?? '';
  const ipamType = ipamTypeRaw === '' ? undefined : ipamTypeRaw;
  const disableContainerInterface = bool(raw.disableContainerInterface);
  guard(() => {
    if (disableContainerInterface && ipamType !== undefined) throw invalid('cannot use IPAM when DisableContainerInterface flag is set');
  }, undefined);

  // precedence (lowest first): CNI_ARGS MAC, args.cni.mac, runtimeConfig.mac
  const mac = guard((): string | undefined => {
    let m: string | undefined;
    const envMac = loadCniArgs(cniArgs, { known: ['MAC'], lenient: true }).get('MAC');
    if (envMac !== undefined && envMac !== '') m = macField(envMac, 'CNI_ARGS MAC', CniCode.InvalidEnvironmentVariables);
    const argsMac = raw.args?.cni?.mac ?? '';
    if (argsMac !== '') m = macField(argsMac, 'args.cni.mac', CniCode.InvalidNetworkConfig);
    const rcMac = raw.runtimeConfig?.mac ?? '';
    if (rcMac !== '') m = macField(rcMac, 'runtimeConfig.mac', CniCode.InvalidNetworkConfig);
    return m;
  }, undefined);

  const isDefaultGateway = bool(raw.isDefaultGateway);
  return {
    name: raw.name,
    cniVersion: raw.cniVersion,
    bridge,
    isGateway: bool(raw.isGateway) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: bool(raw.forceAddress),
    ipMasq: bool(raw.ipMasq),
    ipMasqBackend,
    mtu,
    hairpinMode,
    promiscMode,
    vlan,
    vlanTrunk,
    hasTrunk,
    // false since plugins v1.8.0 (it was true in v1.3.0-v1.7.x)
    preserveDefaultVlan: bool(raw.preserveDefaultVlan),
    macspoofchk: bool(raw.macspoofchk),
    enableDad: bool(raw.enabledad),
    disableContainerInterface,
    portIsolation: bool(raw.portIsolation),
    ipamType,
    dns: dnsOverride(raw.dns),
    mac,
    validAttachments: attachments(raw),
  };
}
