/**
 * Typed rtnetlink facade: the only code that may use the raw `netlink`
 * package (an ESLint rule enforces it). See README.md beside this file.
 */
export { conntrackDeleteByDstPort, openNetlink, withNetlink, type OpenNetlinkOptions } from './netlink.ts';
export { KernelError, NetlinkError } from './errors.ts';
export type * from './types.ts';
export { tcHandle } from './tc.ts';
export { TC_H_INGRESS, TC_H_ROOT, TC_ACT_OK, TC_ACT_STOLEN, TCA_EGRESS_REDIR, ETH_P_ALL } from './constants.ts';
