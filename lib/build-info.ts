import { host } from './host.ts';

/** Filled in by esbuild (scripts/build.mjs) and vitest (vitest.config.ts) from package.json. */
declare const __CNI_TS_VERSION__: string;
/** The git commit the executable was built from (scripts/build.mjs), "+dirty" when the tree had changes. */
declare const __CNI_TS_COMMIT__: string;

export const VERSION: string = typeof __CNI_TS_VERSION__ === 'string' ? __CNI_TS_VERSION__ : '0.0.0-dev';
export const COMMIT: string = typeof __CNI_TS_COMMIT__ === 'string' ? __CNI_TS_COMMIT__ : 'unknown';

/** The Bun version when this runs on Bun (the dist/bun build), else undefined (Node: dist/bin). */
function bunVersion(): string | undefined {
  return (process.versions as Record<string, string | undefined>)['bun'];
}

/** Which build this is: "node" (dist/bin, Node SEA) or "bun" (dist/bun): both run the same bundle. */
export const BUILD_TARGET: string = bunVersion() !== undefined ? 'bun' : 'node';

/** The JavaScript runtime this process runs on, e.g. "node v24.21.0" or "bun 1.x". */
export function runtimeVersion(): string {
  const bun = bunVersion();
  return bun !== undefined ? `bun ${bun}` : `node ${process.version}`;
}

/**
 * `cni --version` / `cni version`: one line in the multi-call convention of the
 * reference plugins' BuildString ("CNI <name> plugin <version>"), then what
 * identifies the build.
 */
export function versionLine(): string {
  return `CNI plugins plugin v${VERSION} (cni-ts) commit ${COMMIT} ${runtimeVersion()} target ${BUILD_TARGET}\n`;
}

/**
 * Whether V8 accepted the executable's code cache (set by scripts/sea-loader.cjs):
 * 'accepted', 'rejected' (it still runs, only slower), 'absent' (no cache given),
 * or 'none' when not run through the loader (tests from source).
 */
export function codeCacheStatus(): string {
  return host()?.codeCache ?? 'none';
}
