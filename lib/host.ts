/**
 * What the executable's loader hands to the bundle: scripts/sea-loader.cjs
 * (the Node executable, and the build's training runs) and
 * scripts/bun-entry.mjs (the Bun executable) call cmd/entry.ts's `start`
 * with one of these, which keeps it here before anything else runs. Outside
 * an executable (tests, the source tree) none is given and `host()` is
 * undefined: addons come from the build tree, tools from their modules.
 */
export interface Host {
  /** Whether V8 accepted the bundle's code cache: 'accepted', 'rejected' or 'absent' (Node only). */
  readonly codeCache?: 'accepted' | 'rejected' | 'absent';
  /**
   * The build's training runs (the bundle run by the plain Node base): exit
   * through the runtime's own teardown, which writes the code cache, and load
   * the addon from this source tree's build directory.
   */
  readonly training?: { readonly sourceRoot: string };
  /** A file embedded in the executable (our addon `cni_native.node`), or undefined. */
  embedded(name: string): Uint8Array | undefined;
  /** Another bundle of the executable (`tools.js`), compiled on demand; its exports. */
  loadBundle(name: string): unknown;
}

let current: Host | undefined;

/** Called once, by the bundle's entry. */
export function setHost(h: Host): void {
  current = h;
}

/** The executable's host, or undefined when not run from one. */
export function host(): Host | undefined {
  return current;
}
