/**
 * The one place the firewall plugin gets its program runner from: the
 * project's posix_spawn runner (lib/exec: iptables, ip6tables and their
 * -restore with an argument array, never a shell).
 */
export { type CommandResult, type CommandRunner, CommandError, execRunner } from '../../lib/exec/index.ts';
