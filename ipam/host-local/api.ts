/**
 * What other plugins may ask host-local, without knowing its file format:
 * the bridge's DEL asks whether an address of the interface it is about to
 * delete is leased to this very attachment (plugins/bridge/ownership.ts).
 */
import type { NetConf } from '../../lib/cni/conf.ts';
import type { IP } from '../../lib/ip.ts';
import { loadIpamConfig } from './config.ts';
import { DiskStore } from './disk-store.ts';
import type { Owner } from './store.ts';

/**
 * Who host-local, configured by `netConf` (a network config with an `ipam`
 * section) and CNI_ARGS, has leased `ip` to; undefined when nobody, or when
 * the config or its data directory is unusable. Creates and locks nothing.
 */
export function leaseOwner(netConf: NetConf, cniArgs: string, ip: IP): Owner | undefined {
  let dir: string;
  let lockTimeoutMs: number;
  try {
    ({ dir, lockTimeoutMs } = loadIpamConfig(netConf, cniArgs));
    return DiskStore.openExisting(dir, { lockTimeoutMs })?.ownerOf(ip);
  } catch {
    return undefined;
  }
}
