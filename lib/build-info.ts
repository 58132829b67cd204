/** Filled in by esbuild (scripts/build.mjs) and vitest (vitest.config.ts) from package.json. */
declare const __CNI_TS_VERSION__: string;

export const VERSION: string = typeof __CNI_TS_VERSION__ === 'string' ? __CNI_TS_VERSION__ : '0.0.0-dev';

/**
 * Whether V8 accepted the executable's code cache (set by scripts/sea-loader.cjs):
 * 'accepted', 'rejected' (it still runs, only slower), 'absent' (no cache given),
 * or 'none' when not run through the loader (tests from source).
 */
export function codeCacheStatus(): string {
  const v = (globalThis as Record<symbol, unknown>)[Symbol.for('cni-ts.codeCache')];
  return typeof v === 'string' ? v : 'none';
}
