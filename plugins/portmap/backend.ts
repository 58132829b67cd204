/** What a portmap backend does; iptables.ts and nftables.ts implement it. */
import type { ContainerIp, PortMapConfig } from './config.ts';

export interface Attachment {
  network: string;
  containerId: string;
}

export interface TeardownScope {
  /** Host ports of the DEL request (nftables deletes only this container's rules for these ports). */
  hostPorts: readonly number[];
  /** Container addresses from prevResult, when DEL has it. */
  containerIps: readonly ContainerIp[];
}

export interface PortBackend {
  readonly name: 'iptables' | 'nftables';
  /** Can this backend be used here (program present and the kernel answers)? */
  usable(): Promise<boolean>;
  /** Installs the rules of one container address (one family); replaces earlier ones of the same attachment. */
  setup(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<void>;
  /** Removes the rules of one family only (ADD's rollback). */
  teardownFamily(a: Attachment, family: 4 | 6, scope: TeardownScope): Promise<void>;
  /** Removes every rule of the attachment in both families; finds them by name or comment, needs no netns. */
  teardown(a: Attachment, scope: TeardownScope): Promise<void>;
  /** Problems found for one container address (empty: all rules in place). */
  check(cfg: PortMapConfig, containerId: string, c: ContainerIp): Promise<string[]>;
  /** Removes the rules of this network's attachments whose container ID is not in `valid`. */
  gc(network: string, valid: ReadonlySet<string>): Promise<void>;
}
