/**
 * Whether a process id names a live process (signal 0; EPERM means it exists
 * under another user). Temporary files carry their writer's pid, so that a
 * listing can remove those of writers that died (host-local, flannel).
 */
import { errnoCode } from './cni/errors.ts';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}
