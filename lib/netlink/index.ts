/**
 * Typed rtnetlink facade: the only code that may use the raw `netlink`
 * package (an ESLint rule enforces it). See README.md beside this file.
 */
export { conntrackDeleteByDstPort, openNetfilter, openNetlink, withNetlink, type NetfilterHandle, type OpenNetlinkOptions } from './netlink.ts';
export type { NlRequest } from './encode.ts';
export type { Reply } from './transport.ts';
export { KernelError, NetlinkError } from './errors.ts';
export type * from './types.ts';
