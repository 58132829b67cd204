/**
 * ADD, DEL, CHECK, GC and STATUS of the firewall plugin. The backend is the
 * configured one, else firewalld when it runs, else iptables (the
 * reference's choice). ADD writes the attachment's record, then, with
 * iptables, one batch per family (the reference's chains and the pod's two
 * rules per address, and the ingress policy's rules), with firewalld the
 * pod's addresses as sources of the zone (and the ingress policy's iptables
 * rules); a failure rolls back what this run added, newest first.
 * DEL removes the rules of prevResult's addresses and of the record's, so it
 * works without prevResult (the reference's does nothing then); GC removes
 * those of recorded attachments that are no longer valid. Rules of an
 * address that another record holds are never removed, and ADD takes its
 * addresses over from older records (an address IPAM gave out again before
 * a stale record was collected). Everything runs under one lock, so that
 * list-compute-restore is atomic between our runs.
 */
import { CniCode, CniError, fromFsError } from '../../lib/cni/errors.ts';
import type { CmdArgs } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { type Attachment, type FirewallConfig, type HostAddress, checkInterfaceName, loadFirewallConfig, PRIV_CHAIN } from './config.ts';
import type { FirewallDeps } from './deps.ts';
import type { Family, FilterTable } from './iptables.ts';
import { type Batch, type Listing, type Rule, addressesOf, checkIsolation, checkProblems, planAdd, planIsolation, planRemove, planRemoveRules } from './plan.ts';
import { type AttachmentRecord, type Records, sameAttachment } from './records.ts';
import type { Firewalld } from './firewalld.ts';
import { DBusError } from '../../lib/dbus/index.ts';
import { faultPoint } from '../../lib/fault.ts';
import { UndoStack } from '../../lib/undo.ts';

const FAMILIES: readonly Family[] = [4, 6];

function reason(err: unknown): string {
  return err instanceof CniError ? err.message : err instanceof Error ? err.message : String(err);
}

function parse(args: CmdArgs, teardown = false): FirewallConfig {
  try {
    return loadFirewallConfig(args.conf, { teardown });
  } catch (err) {
    throw CniError.wrap('failed to load netconf', err);
  }
}

type Backend = { kind: 'iptables' } | { kind: 'firewalld'; fw: Firewalld };

const firewalldMissing = (err: unknown): CniError =>
  new CniError(CniCode.PluginNotAvailable, `backend "firewalld" is not usable: ${reason(err)}`, 'the firewalld backend puts the pod addresses into a firewalld zone over D-Bus: start firewalld, or set "backend": "iptables"', { cause: err });

/** The configured backend; without one, firewalld when it answers on the system bus, else iptables (the reference's choice). */
async function chooseBackend(cfg: FirewallConfig, deps: FirewallDeps): Promise<Backend> {
  if (cfg.backend === 'iptables') return { kind: 'iptables' };
  try {
    return { kind: 'firewalld', fw: await deps.firewalld() };
  } catch (err) {
    if (cfg.backend === 'firewalld') throw firewalldMissing(err);
    return { kind: 'iptables' };
  }
}

/** firewalld for teardown: the configured or running one, undefined when there is none to ask (nothing of ours in it then). */
async function teardownFirewalld(cfg: FirewallConfig, deps: FirewallDeps): Promise<Firewalld | undefined> {
  if (cfg.backend === 'iptables') return undefined;
  try {
    return await deps.firewalld();
  } catch {
    return undefined;
  }
}

const closeBackend = (b: Backend): void => {
  if (b.kind === 'firewalld') b.fw.close();
};

/** Runs `fn` under the plugin's lock; a lock that cannot be taken is code 11 (lib/lock.ts). */
async function locked<T>(deps: FirewallDeps, fn: () => Promise<T>): Promise<T> {
  const lock = deps.lock();
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

function ioError(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  const fs = fromFsError(err);
  return fs !== undefined ? CniError.wrap(what, fs) : new CniError(CniCode.Internal, `${what}: ${reason(err)}`, '', { cause: err });
}

function unionAddresses(...lists: readonly (readonly HostAddress[])[]): HostAddress[] {
  const seen = new Map<string, HostAddress>();
  for (const l of lists) for (const a of l) if (!seen.has(a.cidr)) seen.set(a.cidr, a);
  return [...seen.values()];
}

/** The bridge of an ingress policy other than open, checked as the reference does (and for iptables-safe characters). */
function isolationOf(cfg: FirewallConfig): { bridge: string; policy: 'same-bridge' | 'isolated' } | undefined {
  if (cfg.ingressPolicy === 'open') return undefined;
  if ((cfg.prevResult?.interfaces ?? []).length === 0) {
    throw new CniError(CniCode.InvalidNetworkConfig, `interface needs to be set for ingress policy ${JSON.stringify(cfg.ingressPolicy)}, make sure to chain "firewall" plugin with "bridge"`);
  }
  if (cfg.bridgeName === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'got empty bridge name');
  checkInterfaceName(cfg.bridgeName);
  return { bridge: cfg.bridgeName, policy: cfg.ingressPolicy };
}

export async function cmdAdd(args: CmdArgs, deps: FirewallDeps): Promise<Result> {
  const cfg = parse(args);
  const prev = cfg.prevResult;
  if (prev === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'missing prevResult from earlier plugin');
  const isolation = isolationOf(cfg);
  const att: Attachment = { containerId: args.containerId, ifName: args.ifName };
  const records = deps.records(cfg.dataDir);
  const table = deps.table;
  const backend = await chooseBackend(cfg, deps);
  try {
    await addLocked(args, deps, cfg, att, records, table, backend, isolation);
  } finally {
    closeBackend(backend);
  }
  return prev;
}

async function addLocked(
  args: CmdArgs,
  deps: FirewallDeps,
  cfg: FirewallConfig,
  att: Attachment,
  records: Records,
  table: FilterTable,
  backend: Backend,
  isolation: ReturnType<typeof isolationOf>,
): Promise<void> {
  await locked(deps, async () => {
    const undo = new UndoStack();
    try {
      // the record first: a run killed after the rules leaves what DEL and GC need to find them
      try {
        const all = records.all();
        const old = all.find((r) => sameAttachment(r, cfg.name, att));
        undo.push('restore the attachment record', () => (old !== undefined ? records.write(old) : records.remove(cfg.name, att)));
        records.write({ network: cfg.name, ...att, addresses: unionAddresses(old?.addresses ?? [], cfg.addresses) });
        // IPAM gave us these addresses, so whoever held them before is gone: its record stops claiming them
        const mine = new Set(cfg.addresses.map((a) => a.cidr));
        for (const r of all) {
          if (sameAttachment(r, cfg.name, att) || !r.addresses.some((a) => mine.has(a.cidr))) continue;
          undo.push('restore a record that held the same address', () => records.write(r));
          const rest = r.addresses.filter((a) => !mine.has(a.cidr));
          if (rest.length > 0) records.write({ ...r, addresses: rest });
          else records.remove(r.network, r);
        }
      } catch (err) {
        throw ioError(`failed to write the attachment record in ${cfg.dataDir}`, err);
      }
      faultPoint(args.env, 'firewall', 'recorded');
      const families = FAMILIES.filter((f) => addressesOf(cfg.addresses, f).length > 0);
      const removeAdded = (f: Family, added: readonly Rule[]) => async (): Promise<void> => {
        await table.apply(f, (l) => ({ lines: planRemoveRules(l, added) }));
      };
      // one batch per family, the families at once: the pod's rules, then the ingress policy's (whose FORWARD
      // jump, inserted last, ends up ahead of CNI-FORWARD's, as with the reference)
      const plan = (f: Family) => (l: Listing): Batch => {
        const parts: Batch[] = [];
        if (backend.kind === 'iptables') parts.push(planAdd(l, cfg.adminChain, addressesOf(cfg.addresses, f)));
        // the reference applies the ingress policy with iptables whatever the backend
        if (isolation !== undefined) parts.push(planIsolation(l, isolation.bridge, isolation.policy));
        return { lines: parts.flatMap((p) => p.lines), added: parts.flatMap((p) => p.added) };
      };
      if (backend.kind === 'firewalld') await addSources(backend.fw, cfg, undo);
      const batchFamilies = backend.kind === 'iptables' || isolation !== undefined ? families : [];
      const outcomes = await Promise.allSettled(batchFamilies.map((f) => table.apply(f, plan(f))));
      const failures: string[] = [];
      outcomes.forEach((o, i) => {
        const f = batchFamilies[i]!;
        if (o.status === 'fulfilled') undo.push(`remove the IPv${f} rules added`, removeAdded(f, o.value.added));
        else failures.push(`IPv${f} (${table.bin(f)}): ${reason(o.reason)}`);
      });
      if (failures.length > 0) throw new CniError(CniCode.Internal, `failed to add the firewall rules: ${failures.join('; ')}`);
      faultPoint(args.env, 'firewall', 'rules');
    } catch (err) {
      await undo.run(args.log);
      throw err;
    }
  });
}

/** The reference's firewalld Add: each address a source of the zone, ZONE_ALREADY_SET being fine. */
async function addSources(fw: Firewalld, cfg: FirewallConfig, undo: UndoStack): Promise<void> {
  for (const a of unionAddresses(cfg.addresses)) {
    try {
      await fw.addSource(cfg.firewalldZone, a.cidr);
      undo.push(`remove ${a.cidr} from firewalld zone ${cfg.firewalldZone}`, () => fw.removeSource(cfg.firewalldZone, a.cidr));
    } catch (err) {
      if (err instanceof DBusError && err.message.includes('ZONE_ALREADY_SET')) continue;
      throw new CniError(CniCode.Internal, `failed to add the address ${a.cidr} to ${cfg.firewalldZone} zone: ${reason(err)}`, '', { cause: err });
    }
  }
}

/** The reference's firewalld Del: each address removed from the zone, errors ignored (it may not be there). */
async function removeSources(fw: Firewalld | undefined, zone: string, addresses: readonly HostAddress[], claimed: ReadonlySet<string>): Promise<void> {
  if (fw === undefined) return;
  for (const a of addresses) {
    if (claimed.has(a.cidr)) continue;
    try {
      await fw.removeSource(zone, a.cidr);
    } catch {
      // UNKNOWN_SOURCE: not (or no longer) there
    }
  }
}

/**
 * Removes the rules of `addresses` in both families (an address that
 * `claimed` holds is kept); a family that cannot be listed holds no rules of
 * ours. Throws one error naming every family that failed.
 */
async function removeAddresses(deps: FirewallDeps, addresses: readonly HostAddress[], claimed: ReadonlySet<string>): Promise<void> {
  const errors: string[] = [];
  await Promise.all(
    FAMILIES.map(async (f) => {
      const cidrs = addressesOf(addresses, f).filter((c) => !claimed.has(c));
      if (cidrs.length === 0) return;
      const listing = await deps.table.tryList(f);
      if (listing === undefined) return;
      try {
        await deps.table.apply(f, (l) => ({ lines: planRemove(l, cidrs) }), listing);
      } catch (err) {
        errors.push(`IPv${f}: ${reason(err)}`);
      }
    }),
  );
  if (errors.length > 0) throw new CniError(CniCode.Internal, 'failed to remove the firewall rules', errors.join('; '));
}

/** Every attachment record of the data directory (code 5 naming it when they cannot be read). */
function readRecords(records: Records, cfg: FirewallConfig): AttachmentRecord[] {
  try {
    return records.all();
  } catch (err) {
    throw ioError(`failed to read the attachment records in ${cfg.dataDir}`, err);
  }
}

/**
 * Releases `addresses` (zone sources, rules) unless one of `kept` still
 * claims them, then removes the `gone` records: what DEL does for one
 * attachment and GC for every stale one.
 */
async function release(deps: FirewallDeps, cfg: FirewallConfig, fw: Firewalld | undefined, records: Records, addresses: readonly HostAddress[], kept: readonly AttachmentRecord[], gone: readonly Pick<AttachmentRecord, 'network' | 'containerId' | 'ifName'>[]): Promise<void> {
  const claimed = claimedBy(kept);
  await removeSources(fw, cfg.firewalldZone, addresses, claimed);
  await removeAddresses(deps, addresses, claimed);
  for (const r of gone) {
    try {
      records.remove(r.network, r);
    } catch (err) {
      throw ioError(`failed to remove an attachment record in ${cfg.dataDir}`, err);
    }
  }
}

function claimedBy(records: readonly AttachmentRecord[]): Set<string> {
  return new Set(records.flatMap((r) => r.addresses.map((a) => a.cidr)));
}

export async function cmdDel(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args, true);
  const att: Attachment = { containerId: args.containerId, ifName: args.ifName };
  const records = deps.records(cfg.dataDir);
  // firewalld when configured or running (a stopped firewalld keeps no runtime sources); iptables always
  // (cheap, and the rules may come from another configuration or the Go plugin's default)
  const fw = await teardownFirewalld(cfg, deps);
  try {
    await delLocked(deps, cfg, att, records, fw);
  } finally {
    fw?.close();
  }
  // the ingress policy's rules are per bridge and shared by its pods: the reference keeps them too
}

async function delLocked(deps: FirewallDeps, cfg: FirewallConfig, att: Attachment, records: Records, fw: Firewalld | undefined): Promise<void> {
  await locked(deps, async () => {
    const all = readRecords(records, cfg);
    const own = all.find((r) => sameAttachment(r, cfg.name, att));
    const others = all.filter((r) => !sameAttachment(r, cfg.name, att));
    await release(deps, cfg, fw, records, unionAddresses(cfg.addresses, own?.addresses ?? []), others, [{ network: cfg.name, ...att }]);
  });
}

export async function cmdCheck(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args);
  if (cfg.prevResult === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'missing prevResult from earlier plugin');
  const isolation = isolationOf(cfg);
  const backend = await chooseBackend(cfg, deps);
  const problems: string[] = [];
  try {
    if (backend.kind === 'firewalld') {
      for (const a of unionAddresses(cfg.addresses)) {
        let found: boolean;
        try {
          found = await backend.fw.querySource(cfg.firewalldZone, a.cidr);
        } catch (err) {
          throw new CniError(CniCode.Internal, `failed to find the address ${a.cidr} in ${cfg.firewalldZone} zone: ${reason(err)}`, '', { cause: err });
        }
        // the reference ignores the answer (any reply passes); we do not
        if (!found) problems.push(`firewalld: the address ${a.cidr} is not in ${cfg.firewalldZone} zone`);
      }
    }
  } finally {
    closeBackend(backend);
  }
  for (const f of FAMILIES) {
    const cidrs = addressesOf(cfg.addresses, f);
    if (cidrs.length === 0) continue;
    if (backend.kind === 'firewalld' && isolation === undefined) continue;
    let listing;
    try {
      listing = await deps.table.list(f);
    } catch (err) {
      throw new CniError(CniCode.Internal, `failed to list the IPv${f} filter table: ${reason(err)}`, '', { cause: err });
    }
    const found = backend.kind === 'iptables' ? checkProblems(listing, cfg.adminChain, cidrs, isolation) : isolation === undefined ? [] : checkIsolation(listing, isolation.bridge, isolation.policy);
    for (const p of found) problems.push(`${deps.table.bin(f)}: ${p}`);
  }
  if (problems.length > 0) throw new CniError(CniCode.Internal, `firewall rules of container ${args.containerId} are missing`, problems.join('; '));
}

export async function cmdGc(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args, true);
  if (cfg.validAttachments === undefined) {
    args.log.warn('GC: the request lists no cni.dev/valid-attachments; no rule is removed');
    return;
  }
  const valid = new Set(cfg.validAttachments.map((a) => `${a.containerId}\0${a.ifName}`));
  const records = deps.records(cfg.dataDir);
  const fw = await teardownFirewalld(cfg, deps);
  try {
    await gcLocked(deps, cfg, valid, records, fw);
  } finally {
    fw?.close();
  }
}

async function gcLocked(deps: FirewallDeps, cfg: FirewallConfig, valid: ReadonlySet<string>, records: Records, fw: Firewalld | undefined): Promise<void> {
  await locked(deps, async () => {
    const all = readRecords(records, cfg);
    const isStale = (r: AttachmentRecord): boolean => r.network === cfg.name && !valid.has(`${r.containerId}\0${r.ifName}`);
    const stale = all.filter(isStale);
    if (stale.length === 0) return;
    await release(deps, cfg, fw, records, unionAddresses(...stale.map((r) => r.addresses)), all.filter((r) => !isStale(r)), stale);
  });
}

export async function cmdStatus(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args);
  const backend = await chooseBackend(cfg, deps);
  closeBackend(backend);
  if (backend.kind === 'firewalld') return;
  try {
    await deps.table.list(4);
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, `iptables is not usable: ${reason(err)}`, `the firewall plugin adds its rules to the filter table's FORWARD chain (chain ${PRIV_CHAIN}) with iptables`);
  }
}
