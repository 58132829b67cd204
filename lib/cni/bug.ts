/**
 * Which failures deserve a JavaScript stack on stderr: real bugs only. A
 * CniError is a deliberate answer, and so is anything it wraps that is a
 * known failure mode (a kernel or file-system errno, our own error classes
 * such as NetlinkError or MkdirError); what is left, a bare Error or one of
 * JavaScript's own (TypeError, RangeError...) reaching the boundary, is a bug
 * and gets its stack.
 */
import { CniError } from './errors.ts';

const BUILTIN: readonly unknown[] = [Error, TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/** The innermost cause behind CniError wrappers. */
export function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 32 && e instanceof CniError && e.cause !== undefined; i++) e = e.cause;
  return e;
}

/** True when `err` (thrown at the boundary) is a bug whose stack should be printed. */
export function isBug(err: unknown): err is Error {
  const root = rootCause(err);
  if (!(root instanceof Error) || root instanceof CniError) return false;
  if (typeof (root as { code?: unknown }).code === 'string') return false; // an errno from the system
  return BUILTIN.includes(root.constructor);
}
