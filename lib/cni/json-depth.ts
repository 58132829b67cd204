/**
 * A nesting bound for JSON read from outside, checked before parsing: Go's
 * encoding/json refuses past depth 10000 ("exceeded max depth"), and deeper
 * input would overflow the stack of whatever walks the parsed value later
 * (cloning, converting, comparing). One pass over the bytes, no recursion.
 */
export const MAX_JSON_DEPTH = 10_000;

/** The deepest nesting of arrays and objects in `text` (strings skipped); stops counting past `limit`. */
export function jsonDepth(text: Buffer | string, limit = MAX_JSON_DEPTH): number {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** True when `text` nests deeper than Go would parse. */
export function tooDeep(text: Buffer | string): boolean {
  return jsonDepth(text) > MAX_JSON_DEPTH;
}

/** The nesting depth of a parsed JSON value, walked without recursion; stops counting past `limit`. */
export function valueDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) {
      max = d;
      if (max > limit) return max;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}
