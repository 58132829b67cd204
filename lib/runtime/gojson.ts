/**
 * JSON as Go's encoding/json writes it, where libcni's bytes are observable
 * (plugin stdin, the result cache): compact, `<`, `>`, `&`, U+2028 and U+2029
 * escaped, and objects decoded into Go maps re-encoded with sorted keys.
 */
import { sortKeysDeep } from '../cni/types/wire.ts';

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** Compact JSON with Go's HTML escaping (the characters only occur inside strings). */
export function goMarshal(value: unknown): string {
  return JSON.stringify(value).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What a value looks like after a round trip through Go's `interface{}`: every object's keys sorted. */
export function goMapValue(value: unknown): unknown {
  return sortKeysDeep(value);
}
