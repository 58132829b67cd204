/**
 * Errors of the netlink facade. The kernel's answer is an errno; it becomes a
 * KernelError (`code` 'EEXIST', `errno` 17), which the facade wraps in a
 * NetlinkError naming the action and the object. Both carry `code`, so a
 * caller tests `err.code === 'EEXIST'`, never the message text.
 */
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';

/** strerror-style text for a positive errno, when Node knows it. */
function errnoText(errno: number): { code: string; text: string } {
  let code = `ERRNO${errno}`;
  let text = `errno ${errno}`;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    // unknown errno: keep the number
  }
  try {
    text = getSystemErrorMessage(-errno);
  } catch {
    // unknown errno: keep the number
  }
  return { code, text };
}

/** The kernel refused a request (an NLMSG_ERROR with a negative errno). */
export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly code: string;
  readonly errno: number;
  readonly syscall = 'netlink';

  /** `errno` positive, as in errno.h. */
  constructor(errno: number, detail?: string) {
    const { code, text } = errnoText(errno);
    super(detail === undefined ? `${text} (${code})` : `${detail}: ${text} (${code})`);
    this.code = code;
    this.errno = errno;
  }
}

/** A failed facade call: "<action> <object>: <reason>", with the errno `code` of its cause. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  readonly code: string | undefined;
  readonly errno: number | undefined;

  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    const c = options.cause;
    this.code = typeof c === 'object' && c !== null && 'code' in c && typeof c.code === 'string' ? c.code : undefined;
    this.errno = typeof c === 'object' && c !== null && 'errno' in c && typeof c.errno === 'number' ? c.errno : undefined;
  }
}

export function causeText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
