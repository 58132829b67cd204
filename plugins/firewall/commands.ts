/**
 * ADD, DEL, CHECK, GC and STATUS of the firewall plugin (iptables backend).
 * ADD writes the attachment's record, then one batch per family (the
 * reference's chains and the pod's two rules per address), then the ingress
 * policy's rules; a failure rolls back what this run added, newest first.
 * DEL removes the rules of prevResult's addresses and of the record's, so it
 * works without prevResult (the reference's does nothing then); GC removes
 * those of recorded attachments that are no longer valid. Rules of an
 * address that another record holds are never removed, and ADD takes its
 * addresses over from older records (an address IPAM gave out again before
 * a stale record was collected). Everything runs under one
 * lock, so that list-compute-restore is atomic between our runs.
 */
import { CniCode, CniError, fromFsError } from '../../lib/cni/errors.ts';
import type { CmdArgs, Logger } from '../../lib/cni/skel.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { type Attachment, type FirewallConfig, type HostAddress, checkInterfaceName, loadFirewallConfig, PRIV_CHAIN } from './config.ts';
import type { FirewallDeps } from './deps.ts';
import type { Family } from './iptables.ts';
import { type Batch, type Listing, type Rule, addressesOf, checkProblems, planAdd, planIsolation, planRemove, planRemoveRules } from './plan.ts';
import { type AttachmentRecord, sameAttachment } from './records.ts';

const FAMILIES: readonly Family[] = [4, 6];

function reason(err: unknown): string {
  return err instanceof CniError ? err.message : err instanceof Error ? err.message : String(err);
}

/** Undo actions of an ADD, run newest first when a later step fails. */
class UndoStack {
  private readonly steps: { label: string; fn: () => Promise<void> | void }[] = [];
  push(label: string, fn: () => Promise<void> | void): void {
    this.steps.push({ label, fn });
  }
  async run(log: Logger): Promise<void> {
    for (const s of this.steps.splice(0).reverse()) {
      try {
        await s.fn();
      } catch (err) {
        log.warn(`rollback: ${s.label} failed: ${reason(err)}`);
      }
    }
  }
}

function parse(args: CmdArgs, teardown = false): FirewallConfig {
  try {
    return loadFirewallConfig(args.conf, { teardown });
  } catch (err) {
    throw CniError.wrap('failed to load netconf', err);
  }
}

/** firewalld is reached over D-Bus, and this executable has no D-Bus client (README: "firewalld"). */
function firewalldUnsupported(cfg: FirewallConfig, code: number = CniCode.UnsupportedField): CniError {
  return new CniError(
    code,
    `backend "firewalld" is not supported by this firewall plugin: it has no D-Bus client to reach the firewalld daemon`,
    `set "backend": "iptables" (rules in the filter table's FORWARD chain), or use the reference firewall plugin to put the pod addresses into firewalld zone ${JSON.stringify(cfg.firewalldZone)}`,
  );
}

function warnIfFirewalld(cfg: FirewallConfig, deps: FirewallDeps, log: Logger): void {
  if (cfg.backend === undefined && deps.firewalldRunning()) {
    log.warn('firewalld runs on this node: the reference plugin would use its zones; this one adds iptables rules (set "backend": "iptables" to silence this)');
  }
}

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
  if (cfg.backend === 'firewalld') throw firewalldUnsupported(cfg);
  const isolation = isolationOf(cfg);
  warnIfFirewalld(cfg, deps, args.log);
  const att: Attachment = { containerId: args.containerId, ifName: args.ifName };
  const records = deps.records(cfg.dataDir);
  const table = deps.table;
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
      const families = FAMILIES.filter((f) => addressesOf(cfg.addresses, f).length > 0);
      const removeAdded = (f: Family, added: readonly Rule[]) => async (): Promise<void> => {
        await table.apply(f, (l) => ({ lines: planRemoveRules(l, added) }));
      };
      // one batch per family, the families at once: the pod's rules, then the ingress policy's (whose FORWARD
      // jump, inserted last, ends up ahead of CNI-FORWARD's, as with the reference)
      const plan = (f: Family) => (l: Listing): Batch => {
        const add = planAdd(l, cfg.adminChain, addressesOf(cfg.addresses, f));
        if (isolation === undefined) return add;
        const iso = planIsolation(l, isolation.bridge, isolation.policy);
        return { lines: [...add.lines, ...iso.lines], added: [...add.added, ...iso.added] };
      };
      const outcomes = await Promise.allSettled(families.map((f) => table.apply(f, plan(f))));
      const failures: string[] = [];
      outcomes.forEach((o, i) => {
        const f = families[i]!;
        if (o.status === 'fulfilled') undo.push(`remove the IPv${f} rules added`, removeAdded(f, o.value.added));
        else failures.push(`IPv${f} (${table.bin(f)}): ${reason(o.reason)}`);
      });
      if (failures.length > 0) throw new CniError(CniCode.Internal, `failed to add the firewall rules: ${failures.join('; ')}`);
    } catch (err) {
      await undo.run(args.log);
      throw err;
    }
  });
  return prev;
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

function claimedBy(records: readonly AttachmentRecord[]): Set<string> {
  return new Set(records.flatMap((r) => r.addresses.map((a) => a.cidr)));
}

export async function cmdDel(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args, true);
  // we never add anything with firewalld: nothing of ours to remove
  if (cfg.backend === 'firewalld') return;
  const att: Attachment = { containerId: args.containerId, ifName: args.ifName };
  const records = deps.records(cfg.dataDir);
  await locked(deps, async () => {
    let all: AttachmentRecord[];
    try {
      all = records.all();
    } catch (err) {
      throw ioError(`failed to read the attachment records in ${cfg.dataDir}`, err);
    }
    const own = all.find((r) => sameAttachment(r, cfg.name, att));
    const others = all.filter((r) => !sameAttachment(r, cfg.name, att));
    await removeAddresses(deps, unionAddresses(cfg.addresses, own?.addresses ?? []), claimedBy(others));
    try {
      records.remove(cfg.name, att);
    } catch (err) {
      throw ioError(`failed to remove the attachment record in ${cfg.dataDir}`, err);
    }
  });
  // the ingress policy's rules are per bridge and shared by its pods: the reference keeps them too
}

export async function cmdCheck(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args);
  if (cfg.prevResult === undefined) throw new CniError(CniCode.InvalidNetworkConfig, 'missing prevResult from earlier plugin');
  if (cfg.backend === 'firewalld') throw firewalldUnsupported(cfg);
  const isolation = isolationOf(cfg);
  const problems: string[] = [];
  for (const f of FAMILIES) {
    const cidrs = addressesOf(cfg.addresses, f);
    if (cidrs.length === 0) continue;
    let listing;
    try {
      listing = await deps.table.list(f);
    } catch (err) {
      throw new CniError(CniCode.Internal, `failed to list the IPv${f} filter table: ${reason(err)}`, '', { cause: err });
    }
    for (const p of checkProblems(listing, cfg.adminChain, cidrs, isolation)) problems.push(`${deps.table.bin(f)}: ${p}`);
  }
  if (problems.length > 0) throw new CniError(CniCode.Internal, `firewall rules of container ${args.containerId} are missing`, problems.join('; '));
}

export async function cmdGc(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args, true);
  if (cfg.backend === 'firewalld') return;
  if (cfg.validAttachments === undefined) {
    args.log.warn('GC: the request lists no cni.dev/valid-attachments; no rule is removed');
    return;
  }
  const valid = new Set(cfg.validAttachments.map((a) => `${a.containerId}\0${a.ifName}`));
  const records = deps.records(cfg.dataDir);
  await locked(deps, async () => {
    let all: AttachmentRecord[];
    try {
      all = records.all();
    } catch (err) {
      throw ioError(`failed to read the attachment records in ${cfg.dataDir}`, err);
    }
    const isStale = (r: AttachmentRecord): boolean => r.network === cfg.name && !valid.has(`${r.containerId}\0${r.ifName}`);
    const stale = all.filter(isStale);
    if (stale.length === 0) return;
    await removeAddresses(deps, unionAddresses(...stale.map((r) => r.addresses)), claimedBy(all.filter((r) => !isStale(r))));
    for (const r of stale) {
      try {
        records.remove(r.network, r);
      } catch (err) {
        throw ioError(`failed to remove an attachment record in ${cfg.dataDir}`, err);
      }
    }
  });
}

export async function cmdStatus(args: CmdArgs, deps: FirewallDeps): Promise<void> {
  const cfg = parse(args);
  if (cfg.backend === 'firewalld') throw firewalldUnsupported(cfg, CniCode.PluginNotAvailable);
  try {
    await deps.table.list(4);
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, `iptables is not usable: ${reason(err)}`, `the firewall plugin adds its rules to the filter table's FORWARD chain (chain ${PRIV_CHAIN}) with iptables`);
  }
}
