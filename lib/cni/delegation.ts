/**
 * A bound on delegation: our plugins run each other in-process or by exec,
 * and a configuration can make that endless (`"ipam": {"type": "bridge"}`,
 * flannel delegating to flannel, an IPAM type naming a main plugin). The
 * chain of plugins that delegated so far travels in the environment
 * (CHAIN_ENV, "flannel,bridge"), so it survives an exec as well as an
 * in-process run; a plugin refuses to delegate to a type already in the chain
 * (a cycle), or past MAX_DELEGATION_DEPTH, with code 7.
 */
import { CniCode, CniError } from './errors.ts';

export const CHAIN_ENV = 'CNI_TS_DELEGATION_CHAIN';
/** flannel → bridge → host-local is 3; leave room for a meta plugin or two around them. */
export const MAX_DELEGATION_DEPTH = 6;

export class DelegationCycleError extends CniError {
  constructor(chain: readonly string[], type: string, why: string) {
    super(CniCode.InvalidNetworkConfig, `delegation ${[...chain, type].join(' → ')} refused: ${why}`, 'check the "type" of the delegate and of "ipam" in this network config');
  }
}

/** The chain this invocation belongs to, ending with `self`. */
export function chainOf(env: Record<string, string | undefined>, self: string): string[] {
  const raw = env[CHAIN_ENV];
  const chain = raw === undefined || raw === '' ? [] : raw.split(',');
  if (chain[chain.length - 1] !== self) chain.push(self);
  return chain;
}

/** Throws DelegationCycleError when `self` (in the chain from `env`) may not delegate to `type`; returns the value of CHAIN_ENV for the delegate. */
export function checkDelegation(env: Record<string, string | undefined>, self: string, type: string): string {
  const chain = chainOf(env, self);
  if (chain.includes(type)) throw new DelegationCycleError(chain, type, `${type} is already in the chain (a cycle)`);
  if (chain.length >= MAX_DELEGATION_DEPTH) throw new DelegationCycleError(chain, type, `deeper than ${MAX_DELEGATION_DEPTH} plugins`);
  return chain.join(',');
}
