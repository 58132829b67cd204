/**
 * `cni selftest`: loads the native addon the way a plugin run does, opens a
 * netlink socket through it and lists this namespace's links, and says so on
 * stdout; for checking an installation (and for the tests). `runtime` names
 * the build target (node or bun); `codeCache` says whether V8 accepted the Node
 * executable's code cache ('none' under Bun, whose bytecode has no such answer).
 */
import { loadAddon } from '../lib/native/loader.ts';
import { withNetlink } from '../lib/netlink/index.ts';
import { writeFd } from '../lib/cni/main.ts';
import { codeCacheStatus } from '../lib/build-info.ts';

export async function selftest(): Promise<number> {
  try {
    const own = Object.keys(loadAddon('cni_native')).sort();
    const links = await withNetlink(undefined, async (nl) => (await nl.linkList()).map((l) => l.name));
    const runtime = process.versions['bun'] === undefined ? 'node' : 'bun';
    writeFd(1, `${JSON.stringify({ ok: true, runtime, native: own, links, codeCache: codeCacheStatus() })}\n`);
    return 0;
  } catch (err) {
    writeFd(1, `${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
    return 1;
  }
}
