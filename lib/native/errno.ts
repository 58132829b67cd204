import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) if (!names.has(num)) names.set(num, name);

/** Gives an error from the native addon (with a positive `errno`) a Node-style `code` such as 'EINVAL'. */
export function withErrnoCode(err: unknown): unknown {
  if (err instanceof Error && typeof (err as { errno?: unknown }).errno === 'number') {
    const e = err as Error & { errno: number; code?: string };
    e.code ??= names.get(e.errno) ?? `ERRNO${e.errno}`;
  }
  return err;
}
