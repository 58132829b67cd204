/**
 * Sysctls of one namespace behind a small interface, so that host-side and
 * container-side code read the same way and tests can stand in another
 * namespace for the host. A missing key (no IPv6 in the kernel, an interface
 * that is gone) reads as undefined instead of throwing.
 */
import { errnoCode } from '../../lib/cni/errors.ts';
import { type Netns, sysctlGet, sysctlSet } from '../../lib/netns/index.ts';

export interface Sysctl {
  /** The value, trimmed; undefined when the key does not exist. */
  get(key: string): string | undefined;
  /** Throws (with the errno `code`) when the write fails. */
  set(key: string, value: string): void;
}

function missingAsUndefined(read: () => string): string | undefined {
  try {
    return read();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The namespace this process is in. */
export function currentSysctl(): Sysctl {
  return {
    get: (key) => missingAsUndefined(() => sysctlGet(key)),
    set: (key, value) => sysctlSet(key, value),
  };
}

/** Another namespace, through synchronous file access inside it (see lib/netns/README.md). */
export function netnsSysctl(ns: Netns): Sysctl {
  return {
    get: (key) => missingAsUndefined(() => ns.sysctlGet(key)),
    set: (key, value) => ns.sysctlSet(key, value),
  };
}

/** Whether the namespace's kernel has IPv6 at all (/proc/sys/net/ipv6 exists). */
export function hasIpv6(s: Sysctl): boolean {
  return s.get('net/ipv6/conf/all/disable_ipv6') !== undefined;
}

/** Sets a sysctl that is only an optimisation; a failure is logged with the key and the reason, never fatal. */
export function setBestEffort(s: Sysctl, key: string, value: string, warn: (msg: string) => void): void {
  try {
    s.set(key, value);
  } catch (err) {
    warn(`could not set sysctl ${key}=${value}: ${(err as Error).message}`);
  }
}
