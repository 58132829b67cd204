/**
 * Creating a directory and its missing parents one level at a time. Node's
 * `mkdirSync(p, { recursive: true })` never returns for a path under /proc
 * whose parent does not exist (it loops on ENOENT); this walks up to the
 * first existing ancestor, then creates each level with mkdir(2), so every
 * failure names the level it happened at.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode } from './cni/errors.ts';

/** Thrown with the errno code of the level that failed and that level's path. */
export class MkdirError extends Error {
  override readonly name = 'MkdirError';
  constructor(
    readonly path: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`mkdir ${path}: ${detail}`, options);
  }
}

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'file exists',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'file name too long',
  ENOSPC: 'no space left on device',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
};

/** Go's wording of an errno ("no such file or directory"), else Node's message. */
export function errnoWords(err: unknown): string {
  const code = errnoCode(err);
  return (code !== undefined ? WORDS[code] : undefined) ?? (err instanceof Error ? err.message : String(err));
}

function fail(path: string, err: unknown): never {
  throw new MkdirError(path, errnoCode(err) ?? 'EIO', errnoWords(err), { cause: err });
}

/** True when `path` is an existing directory; throws MkdirError when it exists as something else. */
function existingDir(path: string): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return false;
    fail(path, err);
  }
  throw new MkdirError(path, 'ENOTDIR', 'not a directory');
}

/** `mkdir -p` without Node's recursion: creates the missing levels of `dir` with `mode`. */
export function mkdirLevels(dir: string, mode: number): void {
  const missing: string[] = [];
  let p = dir;
  for (let i = 0; i < 4096; i++) {
    if (existingDir(p)) break;
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level, { mode });
    } catch (err) {
      if (errnoCode(err) === 'EEXIST' && existingDir(level)) continue; // made meanwhile
      fail(level, err);
    }
  }
}
