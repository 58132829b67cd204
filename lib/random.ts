/**
 * Random bytes for temporary file names and interface names, read from
 * /dev/urandom: node:crypto costs a plugin run ~40 internal modules it needs for
 * nothing else. Falls back to node:crypto where /dev/urandom cannot be opened.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    return process.getBuiltinModule('node:crypto').randomBytes(n);
  }
  try {
    let off = 0;
    while (off < n) {
      const got = readSync(fd, buf, off, n - off, null);
      if (got <= 0) throw new Error('/dev/urandom returned no bytes');
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}
