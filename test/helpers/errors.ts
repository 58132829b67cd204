/** Runs `fn`, which must throw a CniError, and returns it (any other outcome fails the test). */
import { CniError } from '../../lib/cni/errors.ts';

export function cniErrorOf(fn: () => unknown): CniError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}

/** Awaits `fn()`, which must reject with a CniError, and returns it (any other outcome fails the test). */
export async function cniErrorOfAsync(fn: () => Promise<unknown>): Promise<CniError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  throw new Error('expected a CniError');
}
