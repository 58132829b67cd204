/**
 * Fault injection for the kill tests: a named checkpoint stops the whole
 * process (SIGSTOP) when CNI_TS_FAULT_STOP names it ("<plugin>:<step>"), so
 * that a test can SIGKILL it at exactly that point, as a node losing power
 * or an OOM kill would. Without the variable a checkpoint does nothing.
 *
 *   flannel:saved          the delegate config is on disk, the delegate not yet asked
 *   flannel:delegated      the delegate answered, the result not yet printed
 *   bridge:<step>          after each step of bridge ADD (plugins/bridge/deps.ts ADD_STEPS)
 *   host-local:<step>      after each step of a reservation (ipam/host-local/disk-store.ts ReserveStep)
 *   firewall:recorded      the attachment record is on disk, no rule or zone source added yet
 *   firewall:rules         the rules (or zone sources) are in place, the result not yet printed
 */
export const FAULT_ENV = 'CNI_TS_FAULT_STOP';

/** Stops this process here when `env` asks for `plugin:step`; the test kills it while stopped. */
export function faultPoint(env: Record<string, string | undefined>, plugin: string, step: string): void {
  const want = env[FAULT_ENV];
  if (want === undefined || want !== `${plugin}:${step}`) return;
  process.kill(process.pid, 'SIGSTOP');
}
