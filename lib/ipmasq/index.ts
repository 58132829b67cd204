/**
 * Masquerade for pod addresses, behind one interface with an iptables and an
 * nftables backend (the reference's ipMasqBackend). Setup uses the configured
 * backend (default: iptables if usable, else nftables, as the reference);
 * teardown and GC always try both, since the pod may have been added by
 * another version or configuration of the plugin.
 */
import { Nft } from '../nft/index.ts';
import { execRunner, type CommandRunner } from '../exec/index.ts';
import { IptablesMasq } from './iptables.ts';
import { NftablesMasq } from './nftables.ts';
import type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';

export type { GcAttachment, MasqAddress, MasqAttachment, MasqBackend } from './types.ts';
export type BackendName = 'iptables' | 'nftables';

export class IpMasq {
  readonly iptables: IptablesMasq;
  readonly nftables: MasqBackend;

  /** `run` runs iptables; `nft` reaches nf_tables (netlink, in the namespace it was made for). */
  constructor(run: CommandRunner = execRunner, nft: Nft = new Nft()) {
    this.iptables = new IptablesMasq(run);
    this.nftables = new NftablesMasq(nft);
  }

  /** The backend to set up with: the configured one, else iptables unless only nftables is usable. */
  async choose(configured: BackendName | undefined): Promise<MasqBackend> {
    if (configured !== undefined) return this[configured];
    if (await this.iptables.usableForSetup()) return this.iptables;
    if (await this.nftables.usable()) return this.nftables;
    return this.iptables;
  }

  async setup(backend: BackendName | undefined, a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void> {
    await (await this.choose(backend)).setup(a, addrs);
  }

  /** Both backends; an unusable backend's failure is not an error (nothing of it can exist). */
  async teardown(a: MasqAttachment): Promise<void> {
    await this.both((b) => b.teardown(a));
  }

  async gc(network: string, valid: readonly GcAttachment[]): Promise<void> {
    await this.both((b) => b.gc(network, valid));
  }

  /** Runs `fn` on both backends at once: they share no state. */
  private async both(fn: (b: MasqBackend) => Promise<void>): Promise<void> {
    const backends = [this.iptables, this.nftables];
    const outcomes = await Promise.allSettled(backends.map((b) => fn(b)));
    const errors: string[] = [];
    for (const [i, o] of outcomes.entries()) {
      const b = backends[i]!;
      if (o.status === 'rejected' && (await b.usable())) errors.push(`${b.name}: ${(o.reason as Error).message}`);
    }
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }
}
