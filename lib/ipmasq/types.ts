/** What a masquerade backend is asked to do, per attachment (network, ifname, containerID). */
export interface MasqAttachment {
  network: string;
  ifname: string;
  containerId: string;
}

/** An address of the attachment with its prefix: "10.244.1.5/24" (host bits kept, as in the result). */
export interface MasqAddress {
  cidr: string;
  family: 4 | 6;
}

export interface GcAttachment {
  containerId: string;
  ifname: string;
}

export interface MasqBackend {
  readonly name: 'iptables' | 'nftables';
  /** Can this backend be used on this machine (program present and the kernel answers)? */
  usable(): Promise<boolean>;
  setup(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<void>;
  /** Removes everything of the attachment; needs no addresses (found by name or comment). */
  teardown(a: MasqAttachment): Promise<void>;
  /** Problems found (empty when all rules of the attachment are in place). */
  check(a: MasqAttachment, addrs: readonly MasqAddress[]): Promise<string[]>;
  /** Removes the rules of this network's attachments that are not in `valid`. */
  gc(network: string, valid: readonly GcAttachment[]): Promise<void>;
}
