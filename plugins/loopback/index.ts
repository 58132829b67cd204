/**
 * The loopback plugin: a drop-in for the reference Go `loopback`
 * (containernetworking/plugins plugins/main/loopback). ADD sets `lo` up in
 * the pod's namespace and reports its addresses; DEL sets it down (a
 * namespace that is gone is success); CHECK verifies it is up with loopback
 * addresses only; GC and STATUS have nothing to do. See README.md.
 */
import { CniCode, CniError } from '../../lib/cni/errors.ts';
import { definePlugin } from '../../lib/cni/plugin.ts';
import type { CmdArgs, Plugin } from '../../lib/cni/skel.ts';
import { validateConf } from '../../lib/cni/conf.ts';
import { parsePrevResult } from '../../lib/cni/types/convert.ts';
import type { Result } from '../../lib/cni/types/current.ts';
import { type Netlink, openNetlink } from '../../lib/netlink/index.ts';
import { Netns, NetnsNotFoundError, NotANetnsError, netnsReady } from '../../lib/netns/index.ts';
import { loopbackSchema } from '../../build/gen/schemas.mjs';
import { validateLoopback } from '../../build/gen/validators.mjs';
import { foreignAddress, loopbackResult } from './plan.ts';

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Opens CNI_NETNS and a netlink handle inside it, runs `fn`, closes both. */
async function inNetns<T>(path: string, fn: (nl: Netlink) => Promise<T>): Promise<T> {
  await netnsReady();
  const ns = Netns.open(path);
  try {
    const nl = await openNetlink(ns);
    try {
      return await fn(nl);
    } finally {
      nl.close();
    }
  } finally {
    ns.close();
  }
}

function fail(msg: string, err?: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(CniCode.Internal, err === undefined ? msg : `${msg}: ${reason(err)}`, '', { cause: err });
}

async function cmdAdd(args: CmdArgs): Promise<Result> {
  validateConf(args.conf, loopbackSchema, validateLoopback);
  const prev = parsePrevResult(args.conf);
  let netnsFailed = true;
  try {
    return await inNetns(args.netns, async (nl) => {
      netnsFailed = false;
      const lo = await nl.linkByName('lo');
      if (lo === undefined) throw fail('failed to find link "lo": the namespace has no loopback interface');
      await nl.linkSetUp(lo);
      const addrs = await nl.addrList({ link: lo });
      const foreign = foreignAddress(addrs);
      if (foreign !== undefined) throw fail(`loopback interface found with non-loopback address ${JSON.stringify(foreign)}`);
      return prev ?? loopbackResult(args.conf.cniVersion, args.netns, addrs);
    });
  } catch (err) {
    if (netnsFailed) throw new CniError(CniCode.InvalidNetNS, `failed to open netns ${JSON.stringify(args.netns)}: ${reason(err)}`, '', { cause: err });
    throw fail('loopback ADD failed', err);
  }
}

async function cmdDel(args: CmdArgs): Promise<void> {
  validateConf(args.conf, loopbackSchema, validateLoopback);
  if (args.netns === '') return;
  try {
    await inNetns(args.netns, async (nl) => {
      const lo = await nl.linkByName('lo');
      if (lo !== undefined && lo.flags.up) await nl.linkSetDown(lo);
    });
  } catch (err) {
    // the namespace is gone, and lo with it (kubernetes#43014)
    if (err instanceof NetnsNotFoundError) return;
    // a path that is no namespace: the code ADD answers
    if (err instanceof NotANetnsError) throw new CniError(CniCode.InvalidNetNS, `failed to open netns ${JSON.stringify(args.netns)}: ${err.message}`, '', { cause: err });
    throw fail(`failed to set "lo" down in ${JSON.stringify(args.netns)}`, err);
  }
}

async function cmdCheck(args: CmdArgs): Promise<void> {
  validateConf(args.conf, loopbackSchema, validateLoopback);
  try {
    await inNetns(args.netns, async (nl) => {
      const lo = await nl.linkByName('lo');
      if (lo === undefined) throw fail('the namespace has no loopback interface');
      if (!lo.flags.up) throw fail('loopback interface is down');
      const foreign = foreignAddress(await nl.addrList({ link: lo }));
      if (foreign !== undefined) throw fail(`loopback interface found with non-loopback address ${JSON.stringify(foreign)}`);
    });
  } catch (err) {
    if (err instanceof NetnsNotFoundError || err instanceof NotANetnsError) throw new CniError(CniCode.InvalidNetNS, err.message, '', { cause: err });
    throw fail(`failed to check "lo" in ${JSON.stringify(args.netns)}`, err);
  }
}

export const loopbackPlugin: Plugin = definePlugin('loopback', {
  add: cmdAdd,
  del: cmdDel,
  check: cmdCheck,
  gc: (args) => {
    validateConf(args.conf, loopbackSchema, validateLoopback);
    // nothing to collect, but the request must be one (as every other plugin of this suite checks it)
    for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
      const v = args.conf[key];
      if (v !== undefined && v !== null && !Array.isArray(v)) throw new CniError(CniCode.InvalidNetworkConfig, `invalid network config: "${key}" must be a list`);
    }
    return Promise.resolve();
  },
  status: (args) => {
    validateConf(args.conf, loopbackSchema, validateLoopback);
    return Promise.resolve();
  },
});
