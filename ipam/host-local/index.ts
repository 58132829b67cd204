/**
 * The host-local IPAM plugin: configuration in, DiskStore underneath, the
 * commands in commands.ts in between. A drop-in for the reference
 * (containernetworking/plugins plugins/ipam/host-local) on the same data
 * directory; README-level notes on where it differs are in commands.ts,
 * disk-store.ts and config.ts.
 */
import { statSync } from 'node:fs';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { definePlugin } from '../../lib/cni/plugin.ts';
import type { CmdArgs, Plugin } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import { CURRENT_VERSION } from '../../lib/cni/version.ts';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus } from './commands.ts';
import { type IpamConfig, loadIpamConfig } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { type IP, parseIpMaybePrefix } from '../../lib/ip.ts';
import { readResolvConf } from './resolv.ts';
import { faultPoint } from '../../lib/fault.ts';
import type { Attachment } from './store.ts';

function attachment(args: CmdArgs): Attachment {
  return { containerId: args.containerId, ifName: args.ifName };
}

function openStore(cfg: IpamConfig, env: CmdArgs['env']): DiskStore {
  try {
    return DiskStore.open(cfg.dir, { lockTimeoutMs: cfg.lockTimeoutMs, reclaimEarlierBoots: cfg.reclaimEarlierBoots, onStep: (step) => faultPoint(env, 'host-local', step) });
  } catch (err) {
    throw new CniError(CniCode.IOFailure, `host-local: cannot create data directory ${cfg.dir}: ${(err as Error).message}`, 'check ipam.dataDir in the network config', { cause: err });
  }
}

function existingStore(cfg: IpamConfig): DiskStore | undefined {
  return DiskStore.openExisting(cfg.dir, { lockTimeoutMs: cfg.lockTimeoutMs, reclaimEarlierBoots: cfg.reclaimEarlierBoots });
}

/** The addresses `prevResult` lists (undefined without a prevResult). */
function prevResultAddresses(args: CmdArgs): IP[] | undefined {
  const prev = parsePrevResult(args.conf);
  if (prev === undefined) return undefined;
  return (prev.ips ?? []).map((x, i) => {
    const ip = parseIpMaybePrefix(x.address);
    if (ip === undefined) throw new CniError(CniCode.DecodingFailure, `could not parse prevResult: "ips.${i}.address" is not an address, got ${JSON.stringify(x.address)}`);
    return ip;
  });
}

/**
 * ADD refuses a CNI_NETNS that exists but is no namespace (a regular file, a
 * FIFO, a directory: code 8, as the plugins that open it answer), before a
 * lease is written for it. Every namespace file lives on the kernel's one
 * nsfs, so its device is that of /proc/self/ns/net; nothing is opened (a FIFO
 * would block). A missing path is left alone: the reference never looks.
 */
function refuseNonNetns(netns: string): void {
  if (netns === '') return;
  let st;
  let nsfs;
  try {
    st = statSync(netns);
    nsfs = statSync('/proc/self/ns/net');
  } catch {
    return;
  }
  if (st.dev !== nsfs.dev) {
    const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : 'not a namespace file';
    throw new CniError(CniCode.InvalidNetNS, `failed to open netns ${JSON.stringify(netns)}: it is ${what}, not a network namespace`, 'CNI_NETNS must name a network namespace (such as /var/run/netns/<name> or /proc/<pid>/ns/net)');
  }
}

async function add(args: CmdArgs): Promise<Result> {
  refuseNonNetns(args.netns);
  const cfg = loadIpamConfig(args.conf, args.args);
  const dns = cfg.resolvConf === undefined ? undefined : readResolvConf(cfg.resolvConf);
  const ips = await ipamAdd(cfg, openStore(cfg, args.env), attachment(args));
  const result: Result = { cniVersion: CURRENT_VERSION, ips };
  if (cfg.routes.length > 0) result.routes = cfg.routes;
  if (dns !== undefined) result.dns = dns;
  return result;
}

async function del(args: CmdArgs): Promise<void> {
  const cfg = loadIpamConfig(args.conf, args.args);
  const store = existingStore(cfg);
  if (store !== undefined) await ipamDel(cfg, store, attachment(args), args.log);
}

async function check(args: CmdArgs): Promise<void> {
  const cfg = loadIpamConfig(args.conf, args.args);
  const prev = prevResultAddresses(args);
  const store = existingStore(cfg);
  if (store === undefined) throw new CniError(CniCode.Internal, `host-local: Failed to find address added by container ${args.containerId}`);
  await ipamCheck(cfg, store, attachment(args), prev);
}

async function gc(args: CmdArgs): Promise<void> {
  const cfg = loadIpamConfig(args.conf, args.args);
  await ipamGc(cfg, existingStore(cfg), cfg.validAttachments, args.log);
}

function status(args: CmdArgs): void {
  const cfg = loadIpamConfig(args.conf, args.args);
  let store: DiskStore;
  try {
    store = DiskStore.open(cfg.dir, { lockTimeoutMs: cfg.lockTimeoutMs, reclaimEarlierBoots: cfg.reclaimEarlierBoots });
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, `host-local: data directory ${cfg.dir} is not usable: ${(err as Error).message}`, '', { cause: err });
  }
  ipamStatus(cfg, store, args.log);
}

/** Runs a command as the Plugin interface's promise (a synchronous throw becomes a rejection). */
function run<T>(fn: (args: CmdArgs) => T | Promise<T>): (args: CmdArgs) => Promise<T> {
  return (args) => new Promise<T>((resolve) => resolve(fn(args)));
}

export const hostLocalPlugin: Plugin = definePlugin('host-local', { add: run(add), del: run(del), check: run(check), gc: run(gc), status: run(status) });
