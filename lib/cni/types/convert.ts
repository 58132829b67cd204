// Minimal first cut: stamps the requested version. The per-version converter table replaces it.
import type { Result } from './current.ts';
export function resultToVersion(result: Result, version: string): unknown {
  return { ...result, cniVersion: version };
}
