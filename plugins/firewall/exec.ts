/**
 * The one place the firewall plugin gets its program runner from: today the
 * project's posix_spawn runner in lib/ipmasq (iptables, ip6tables and their
 * -restore with an argument array, never a shell). If the runner moves (to
 * lib/exec), only this file changes.
 */
export { type CommandResult, type CommandRunner, CommandError, execRunner } from '../../lib/ipmasq/run.ts';
