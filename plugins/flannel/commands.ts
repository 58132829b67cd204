/**
 * flannel's commands. ADD renders the delegate config from the node's lease
 * (subnet.env), saves it, then delegates; DEL, CHECK and GC work from what
 * ADD saved. Where we differ from the reference (flannel-io/cni-plugin), on
 * purpose:
 *
 * - a missing or incomplete subnet.env is code 11 on ADD (try again later:
 *   flanneld has not written the node's lease yet) and code 50 on STATUS;
 * - DEL removes the saved config only after the delegate's DEL succeeded
 *   (the reference removes it even when the delegate failed, so a retried DEL
 *   finds nothing and the lease leaks), and without a saved config still asks
 *   the delegate to DEL with the config rebuilt from the current subnet.env;
 * - DEL passes the runtime's prevResult on to the delegate;
 * - CHECK delegates CHECK (the reference does nothing), and reports a pod
 *   whose subnet is no longer the node's;
 * - STATUS and GC are forwarded to the delegate; GC also drops saved configs
 *   of attachments the runtime no longer knows;
 * - saved configs are kept per attachment: the first one of a container in
 *   the reference's file, further ones (Multus) beside it (see store.ts);
 * - a failed ADD leaves nothing it created, and a repeated ADD of a running
 *   attachment leaves that attachment's saved config as it was;
 * - the delegate config is not dumped to stderr.
 */
import type { CmdArgs } from '../../lib/cni/skel.ts';
import { type JsonObject, isObject } from '../../lib/cni/conf.ts';
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { convertResult } from '../../lib/cni/types/convert.ts';
import { PluginNotFoundError } from '../../lib/cni/invoke.ts';
import { DelegationCycleError } from '../../lib/cni/delegation.ts';
import { faultPoint } from '../../lib/fault.ts';
import { versionGte } from '../../lib/cni/version.ts';
import { type FlannelConf, loadFlannelConf } from './config.ts';
import { buildDelegate, delegateType, marshalDelegate, rangeSubnets } from './delegate.ts';
import { ConfStore, IFNAME_KEY, type Saved, fileName, withoutOwner } from './store.ts';
import { type SubnetEnv, SubnetEnvError, describeSubnetEnv, loadSubnetEnv } from './subnet-env.ts';
import { formatCidr } from '../../lib/ip.ts';

const NOT_READY_DETAILS = "flanneld has not written this node's subnet lease yet (is the flannel pod running on this node?); try again later";

/** The subnet.env error as the reference words it, with the code the caller wants for "not there yet". */
function subnetEnvError(err: SubnetEnvError, notReadyCode: number): CniError {
  const msg = `failed to load flannel 'subnet.env' file: ${err.message}. Check the flannel pod log for this node.`;
  if (err.kind === 'missing' || err.kind === 'incomplete') return new CniError(notReadyCode, msg, NOT_READY_DETAILS, { cause: err });
  if (notReadyCode === CniCode.PluginNotAvailable) return new CniError(notReadyCode, msg, '', { cause: err });
  const details = `${err.file} is written by flanneld; fix or remove it and restart the flannel pod of this node`;
  if (err.kind === 'unreadable') return new CniError(CniCode.IOFailure, msg, details, { cause: err });
  return new CniError(CniCode.DecodingFailure, msg, details, { cause: err });
}

function readSubnetEnv(conf: FlannelConf, notReadyCode: number): SubnetEnv {
  try {
    return loadSubnetEnv(conf.subnetFile);
  } catch (err) {
    if (err instanceof SubnetEnvError) throw subnetEnvError(err, notReadyCode);
    throw err;
  }
}

/** subnet.env, or undefined (with the reason) when it cannot be read: for the best-effort paths. */
function trySubnetEnv(conf: FlannelConf): SubnetEnv | string {
  try {
    return loadSubnetEnv(conf.subnetFile);
  } catch (err) {
    return (err as Error).message;
  }
}

function storeOf(conf: FlannelConf): ConfStore {
  return new ConfStore(conf.dataDir);
}

function requireType(d: JsonObject, where: string): string {
  const t = delegateType(d);
  if (t === undefined) throw new CniError(CniCode.InvalidNetworkConfig, `${where} has no (string) 'type' field`);
  return t;
}

export async function add(args: CmdArgs): Promise<Result> {
  const conf = loadFlannelConf(args.conf, args.stdinData);
  const env = readSubnetEnv(conf, CniCode.TryAgainLater);
  const delegate = buildDelegate(conf, env);
  const type = requireType(delegate, "'delegate'");
  const bytes = marshalDelegate(delegate);
  const marked = marshalDelegate({ ...delegate, [IFNAME_KEY]: args.ifName });
  const store = storeOf(conf);
  // saved before delegating: if the delegate half-succeeds, the runtime's DEL finds what to undo;
  // a repeated ADD finds the running attachment's file and leaves it until its delegate succeeded
  let plan;
  let written: string | undefined;
  try {
    store.sweepEarlierBoot();
    plan = store.plan(args.containerId, args.ifName);
    if (plan.previous === undefined) written = store.save(plan, args.containerId, args.ifName, bytes, marked);
  } catch (err) {
    throw new CniError(CniCode.IOFailure, `failed to save the delegate config in ${conf.dataDir}: ${(err as Error).message}`, '', { cause: err });
  }
  faultPoint(args.env, 'flannel', 'saved');
  let result: Result;
  try {
    result = await args.invoke.add(type, bytes, conf.cniVersion);
  } catch (err) {
    if (written !== undefined) dropSavedAfterFailedAdd(args, store, written, type, err);
    throw staleGateway(CniError.wrap('failed to delegate add', err), conf, env);
  }
  // the delegate always has an IPAM section: a result without addresses is a half-done ADD, undone here
  if ((result.ips ?? []).length === 0) {
    const err = new CniError(CniCode.Internal, `failed to delegate add: plugin ${JSON.stringify(type)} returned no IP addresses`, 'its ADD is undone (DEL sent)');
    try {
      await args.invoke.del(type, bytes);
      if (written !== undefined) store.remove(written);
    } catch (e) {
      args.log.warn(`ADD: undoing the delegate's ADD failed (the runtime's DEL retries it): ${(e as Error).message}`);
    }
    throw err;
  }
  faultPoint(args.env, 'flannel', 'delegated');
  const expected = plan.path === store.legacyPath(args.containerId) ? marked : bytes;
  if (plan.previous !== undefined && !plan.previous.equals(expected)) {
    try {
      store.save({ ...plan, previous: undefined }, args.containerId, args.ifName, bytes, marked);
    } catch (err) {
      args.log.warn(`ADD: the saved delegate config could not be updated: ${(err as Error).message}`);
    }
  }
  return result;
}

const STALE_GATEWAY = /already has an IP address different from/;
/** Our bridge's details for that error: "cni0 has 10.244.1.1/24, this network's gateway is 10.244.7.1/24 (...)". */
const STALE_GATEWAY_DETAILS = /^(\S+) has (\S+), this network's gateway is (\S+)/;

/**
 * The bridge refusing the gateway of a new lease because it still carries the
 * old one (flanneld leased this node another subnet: its lease expired, or the
 * node came back with another podCIDR; flannel-io/flannel#1850): the details
 * say so in flannel's terms, with the stale address when the bridge named it,
 * and both fixes, with where forceAddress goes in a flannel config.
 */
function staleGateway(err: CniError, conf: FlannelConf, env: SubnetEnv): CniError {
  if (!STALE_GATEWAY.test(err.msg)) return err;
  const lease = [env.subnet, env.ipv6Subnet].filter((n) => n !== undefined).map(formatCidr).join(', ');
  const m = STALE_GATEWAY_DETAILS.exec(err.details);
  const [bridge, old, gw] = m === null ? ['the bridge', undefined, 'the new gateway'] : [m[1] ?? '', m[2] ?? '', m[3] ?? ''];
  const has = old === undefined ? 'the gateway address of an earlier lease' : `${old}, the gateway of an earlier lease`;
  const remove = old === undefined ? 'remove the old address from the bridge' : `remove ${old} from ${bridge} (ip addr del ${old} dev ${bridge})`;
  return new CniError(
    err.code,
    err.msg,
    `${bridge} still has ${has}, but flanneld's lease for this node is now ${lease} (${conf.subnetFile}). ` +
      `Fix: set "forceAddress": true in this flannel config's "delegate" (k3s does) so that the bridge moves to ${gw} ` +
      `(pods still on the old subnet lose their network and must be re-created), or ${remove} and re-create those pods (flannel-io/flannel#1850)`,
    { cause: err },
  );
}

/**
 * A failed ADD leaves nothing behind when its delegate left nothing: the saved
 * config goes when the delegate never ran (not found, a refused cycle) or is
 * one of ours run in-process, which rolls its own failed ADD back. A foreign
 * delegate may have left something half done; its file stays for the
 * runtime's DEL, as the reference's does.
 */
function dropSavedAfterFailedAdd(args: CmdArgs, store: ConfStore, path: string, type: string, err: unknown): void {
  if (!(err instanceof PluginNotFoundError) && !(err instanceof DelegationCycleError) && !args.invoke.rollsBack(type)) return;
  try {
    store.remove(path);
  } catch (e) {
    args.log.warn(`ADD failed and its saved delegate config could not be removed: ${(e as Error).message}`);
  }
}

/** Without a saved config: a delegate DEL refused for its environment, data directory or a plugin missing on CNI_PATH (ours or its IPAM's). */
function refusedForGood(err: unknown): boolean {
  if (!(err instanceof CniError)) return false;
  if (err.code === CniCode.IOFailure || err.code === CniCode.InvalidEnvironmentVariables) return true;
  return err.code === CniCode.Internal && /failed to find plugin "[^"]*" in path /.test(err.msg);
}

/** A delegate DEL error that says the config can never have been used by an ADD: nothing to release. */
function neverValid(err: unknown): boolean {
  if (err instanceof PluginNotFoundError || err instanceof DelegationCycleError) return true;
  return err instanceof CniError && (err.code === CniCode.DecodingFailure || err.code === CniCode.InvalidNetworkConfig || err.code === CniCode.IncompatibleCNIVersion);
}

/** The runtime's prevResult in the saved config's version, for a delegate DEL (only 0.4.0 and later carry one). */
function prevResultFor(args: CmdArgs, savedVersion: unknown): JsonObject | undefined {
  const prev = args.conf.prevResult;
  if (prev === undefined || prev === null || typeof savedVersion !== 'string') return undefined;
  try {
    if (!versionGte(savedVersion, '0.4.0')) return undefined;
    return convertResult(prev, savedVersion, args.conf.cniVersion);
  } catch (err) {
    args.log.warn(`DEL: not passing prevResult to the delegate: ${(err as Error).message}`);
    return undefined;
  }
}

export async function del(args: CmdArgs): Promise<void> {
  const conf = loadFlannelConf(args.conf, args.stdinData);
  const store = storeOf(conf);
  const saved = store.find(args.containerId, args.ifName, conf.name);
  const savedType = saved?.conf === undefined ? undefined : delegateType(saved.conf);
  if (saved !== undefined && saved.conf !== undefined && savedType !== undefined) {
    const prev = prevResultFor(args, saved.conf['cniVersion']);
    try {
      const bytes = saved.marked ? marshalDelegate(saved.conf) : saved.bytes;
      await args.invoke.del(savedType, prev === undefined ? bytes : { ...saved.conf, prevResult: prev });
    } catch (err) {
      // the file stays: a retried DEL must be able to release what this one could not,
      // unless the delegate refuses the very bytes ADD gave it (then that ADD failed the same way)
      if (!(err instanceof CniError && neverValid(err) && !(err instanceof PluginNotFoundError))) throw CniError.wrap('failed to delegate del', err);
    }
    store.remove(saved.path);
    return;
  }
  await delRebuilt(args, conf, saved);
}

/**
 * DEL without a usable saved config (lost, never written, or a DEL repeated):
 * ask the delegate anyway with the config ADD would build now, so a lease the
 * delegate still holds is released. Nothing to ask without a lease or a valid
 * delegate; then there is nothing flannel could undo either.
 */
async function delRebuilt(args: CmdArgs, conf: FlannelConf, saved: Saved | undefined): Promise<void> {
  // quiet: a repeated DEL, or one after a failed ADD, is a normal path (the reference prints nothing either)
  const env = trySubnetEnv(conf);
  if (typeof env === 'string') {
    if (saved !== undefined) storeOf(conf).remove(saved.path);
    return; // nothing to rebuild from: nothing flannel could name to release
  }
  let delegate: JsonObject;
  try {
    delegate = buildDelegate(conf, env);
  } catch {
    if (saved !== undefined) storeOf(conf).remove(saved.path);
    return; // a config ADD refuses the same way: nothing was added with it
  }
  const type = delegateType(delegate);
  if (type === undefined) return;
  const prev = prevResultFor(args, delegate['cniVersion']);
  try {
    await args.invoke.del(type, prev === undefined ? marshalDelegate(delegate) : { ...delegate, prevResult: prev });
  } catch (err) {
    // a config the delegate refuses, or can never run, was never added: nothing to release; the rest is worth a retry
    // (and an environment, a data directory or a CNI_PATH it refuses cannot have served an ADD either: the runtime sends DEL the ADD's)
    if (!neverValid(err) && !refusedForGood(err)) {
      throw CniError.wrap(`failed to delegate del (no saved config; rebuilt from ${conf.subnetFile}: ${describeSubnetEnv(env)})`, err);
    }
  }
  if (saved !== undefined) storeOf(conf).remove(saved.path);
}

export async function check(args: CmdArgs): Promise<void> {
  const conf = loadFlannelConf(args.conf, args.stdinData);
  const st = storeOf(conf);
  const saved = st.find(args.containerId, args.ifName, conf.name);
  if (saved === undefined) {
    throw new CniError(
      CniCode.UnknownContainer,
      `no saved delegate config for container ${args.containerId} interface ${args.ifName} (looked for ${st.keyedPath(args.containerId, args.ifName)} and ${st.legacyPath(args.containerId)}): was it added by flannel on network ${JSON.stringify(conf.name)}?`,
    );
  }
  if (saved.conf === undefined) throw new CniError(CniCode.Internal, `${saved.path} is not a delegate config (not a JSON object)`);
  const type = requireType(saved.conf, saved.path);
  const env = trySubnetEnv(conf);
  if (typeof env !== 'string') {
    const was = rangeSubnets(saved.conf);
    const now = rangeSubnets(buildDelegate(conf, env));
    if (was !== undefined && now !== undefined && was.join(',') !== now.join(',')) {
      throw new CniError(
        CniCode.Internal,
        `this attachment was given an address from ${was.join(', ')} but the node's subnet is now ${now.join(', ')} (${conf.subnetFile}): the pod must be re-created`,
      );
    }
  } else {
    args.log.warn(`CHECK: not comparing with subnet.env: ${env}`);
  }
  // the delegate checks against the runtime's prevResult, in the runtime's version
  const delegateConf: JsonObject = { ...saved.conf, cniVersion: args.conf.cniVersion };
  if (args.conf.prevResult !== undefined) delegateConf['prevResult'] = args.conf.prevResult;
  try {
    await args.invoke.check(type, delegateConf);
  } catch (err) {
    throw CniError.wrap('failed to delegate check', err);
  }
}

export async function status(args: CmdArgs): Promise<void> {
  const conf = loadFlannelConf(args.conf, args.stdinData);
  const env = readSubnetEnv(conf, CniCode.PluginNotAvailable);
  const delegate = buildDelegate(conf, env);
  const type = requireType(delegate, "'delegate'");
  try {
    await args.invoke.status(type, marshalDelegate(delegate));
  } catch (err) {
    throw CniError.wrap('failed to delegate status', err);
  }
}

interface Attachment {
  containerId: string;
  ifName: string;
}

/** `cni.dev/valid-attachments` (or the 1.1.0 text's `cni.dev/attachments`); undefined when the request has neither. */
function validAttachments(conf: JsonObject): Attachment[] | undefined {
  const key = conf['cni.dev/valid-attachments'] !== undefined && conf['cni.dev/valid-attachments'] !== null ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const raw = conf[key];
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "${key}" must be a list`);
  return (raw as unknown[]).map((a, i) => {
    if (!isObject(a) || typeof a['containerID'] !== 'string' || typeof a['ifname'] !== 'string') {
      throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "${key}.${i}" must be {"containerID": string, "ifname": string}, got ${JSON.stringify(a)}`);
    }
    return { containerId: a['containerID'], ifName: a['ifname'] };
  });
}

/** The most recently written saved config of this network: the delegate config to GC with when subnet.env is gone. */
function newestSaved(st: ConfStore, network: string): JsonObject | undefined {
  const byAge = st.list().entries.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const e of byAge) {
    const raw = st.read(e.path);
    if (raw === undefined) continue;
    const c = withoutOwner(raw);
    if (c['name'] === network && delegateType(c) !== undefined && isObject(c['ipam'])) return c;
  }
  return undefined;
}

export async function gc(args: CmdArgs): Promise<void> {
  const conf = loadFlannelConf(args.conf, args.stdinData);
  const st = storeOf(conf);
  const valid = validAttachments(args.conf);
  const errors: CniError[] = [];

  // 1. forward GC, with the config ADD would build now (or, without a lease, the newest saved one)
  let base: JsonObject | undefined;
  const env = trySubnetEnv(conf);
  if (typeof env !== 'string') base = buildDelegate(conf, env);
  else {
    base = newestSaved(st, conf.name);
    if (base !== undefined) args.log.warn(`GC: ${env}; using the newest saved delegate config instead`);
  }
  let delegated = false;
  if (base === undefined) {
    args.log.warn(`GC: no subnet.env and no saved delegate config for network ${JSON.stringify(conf.name)}: nothing to forward GC to`);
    delegated = true; // nothing the delegate could hold that we can name
  } else {
    const gcConf: JsonObject = { ...base, cniVersion: args.conf.cniVersion };
    for (const k of ['cni.dev/valid-attachments', 'cni.dev/attachments']) if (args.conf[k] !== undefined) gcConf[k] = args.conf[k];
    try {
      await args.invoke.gc(requireType(base, "'delegate'"), gcConf);
      delegated = true;
    } catch (err) {
      errors.push(CniError.wrap('failed to delegate gc', err));
    }
  }

  // 2. drop saved configs of attachments the runtime no longer has (only once the delegate released them)
  if (valid !== undefined && delegated) {
    const { entries, stale } = st.list();
    for (const e of entries) {
      const c = st.read(e.path);
      const owner = c?.[IFNAME_KEY];
      const keep = valid.some((a) => e.name === fileName(a.containerId, a.ifName) || (e.name === a.containerId && (owner === undefined || owner === a.ifName)));
      if (keep) continue;
      if (c === undefined || c['name'] !== conf.name) continue; // another network's (or not ours to judge)
      try {
        st.remove(e.path);
      } catch (err) {
        errors.push(new CniError(CniCode.IOFailure, `removing ${e.path}: ${(err as Error).message}`));
      }
    }
    for (const p of stale) {
      try {
        st.remove(p);
      } catch (err) {
        errors.push(new CniError(CniCode.IOFailure, `removing ${p}: ${(err as Error).message}`));
      }
    }
  }
  // every step ran; report all that failed (one keeps its own code)
  const [first] = errors;
  if (first !== undefined && errors.length === 1) throw first;
  if (errors.length > 1) throw new CniError(CniCode.Internal, errors.map((e) => e.message).join('; '));
}
