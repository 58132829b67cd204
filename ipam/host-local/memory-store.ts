/** An in-memory Store for tests: the same contract as DiskStore, no disk, no lock file. */
import { type IP, ipKey } from '../../lib/ip.ts';
import type { Attachment, Lease, LeaseListing, Owner, Store } from './store.ts';

export class MemoryStore implements Store {
  readonly #leases = new Map<string, Lease>();
  readonly #cursors = new Map<string, IP>();
  #locked = false;
  /** How many times the lock was taken (tests check that every command locks). */
  lockCount = 0;
  /** What unusableReason() answers (tests set it to simulate a broken store). */
  brokenReason: string | undefined;

  prepare(): void {
    // nothing to do ahead of the lock in memory
  }

  discardPrepared(): void {
    // nothing prepared
  }

  withLock<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(this.withLockSync(fn));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** withLock for the allocator's unit tests, which drive it synchronously. */
  withLockSync<T>(fn: () => T): T {
    if (this.#locked) throw new Error('MemoryStore: lock is not reentrant');
    this.#locked = true;
    this.lockCount++;
    try {
      return fn();
    } finally {
      this.#locked = false;
    }
  }

  get locked(): boolean {
    return this.#locked;
  }

  reserve(a: Attachment, ip: IP, rangeId: string): boolean {
    const k = ipKey(ip);
    if (this.#leases.has(k)) return false;
    this.#leases.set(k, { ip, owner: { containerId: a.containerId, ifName: a.ifName } });
    this.#cursors.set(rangeId, ip);
    return true;
  }

  lastReserved(rangeId: string): IP | undefined {
    return this.#cursors.get(rangeId);
  }

  leases(): LeaseListing {
    return { leases: [...this.#leases.values()], problems: [] };
  }

  release(ip: IP): void {
    this.#leases.delete(ipKey(ip));
  }

  unusableReason(): string | undefined {
    return this.brokenReason;
  }

  /** Test helper: puts a lease in place as another plugin (or an older version) would have. */
  seed(ip: IP, owner: Owner): void {
    this.#leases.set(ipKey(ip), { ip, owner });
  }

  /** Test helper: sets a cursor directly. */
  setLastReserved(rangeId: string, ip: IP): void {
    this.#cursors.set(rangeId, ip);
  }
}
