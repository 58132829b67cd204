/** Filled in by esbuild (scripts/build.mjs) and vitest (vitest.config.ts) from package.json. */
declare const __CNI_TS_VERSION__: string;

export const VERSION: string = typeof __CNI_TS_VERSION__ === 'string' ? __CNI_TS_VERSION__ : '0.0.0-dev';
