/**
 * The one fault-injection seam, for tests only: it does nothing unless the
 * invocation's environment has CNI_TS_FAULT. Its value names one checkpoint
 * and what to do there: "<plugin>:<step>" or "<plugin>:<step>:stop" stops the
 * whole process (SIGSTOP) so that a test can SIGKILL it at exactly that point,
 * as a node losing power or an OOM kill would; "<plugin>:<step>:fail" makes
 * the step fail with an error there, so that a test can watch the rollback.
 *
 *   flannel:saved          the delegate config is on disk, the delegate not yet asked
 *   flannel:delegated      the delegate answered, the result not yet printed
 *   bridge:<step>          after each step of bridge ADD (plugins/bridge/deps.ts ADD_STEPS)
 *   host-local:<step>      after each step of a reservation (ipam/host-local/disk-store.ts ReserveStep)
 *   bandwidth:<step>       after each step of bandwidth ADD (plugins/bandwidth/commands.ts BANDWIDTH_ADD_STEPS)
 */
export const FAULT_ENV = 'CNI_TS_FAULT';

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

/** Stops, or fails, here when `env` asks for `plugin:step`; otherwise nothing. */
export function faultPoint(env: Record<string, string | undefined>, plugin: string, step: string): void {
  const want = env[FAULT_ENV];
  if (want === undefined) return;
  const at = `${plugin}:${step}`;
  if (want === at || want === `${at}:stop`) process.kill(process.pid, 'SIGSTOP');
  else if (want === `${at}:fail`) throw new InjectedFault(`injected failure after ${step}`);
}
