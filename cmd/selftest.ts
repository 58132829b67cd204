/**
 * `cni selftest`: loads both native addons the way a plugin run does, opens a
 * netlink socket and lists this namespace's links, and says so on stdout; for
 * checking an installation (and for the tests); `codeCache` says whether V8
 * accepted the executable's code cache.
 */
import { loadAddon } from '../lib/native/loader.ts';
import { withNetlink } from '../lib/netlink/index.ts';
import { writeFd } from '../lib/cni/main.ts';
import { codeCacheStatus } from '../lib/build-info.ts';

export async function selftest(): Promise<number> {
  try {
    const own = Object.keys(loadAddon('cni_native')).sort();
    const netlink = Object.keys(loadAddon('netlink') as object).sort();
    const links = await withNetlink(undefined, async (nl) => (await nl.linkList()).map((l) => l.name));
    writeFd(1, `${JSON.stringify({ ok: true, native: own, netlink, links, codeCache: codeCacheStatus() })}\n`);
    return 0;
  } catch (err) {
    writeFd(1, `${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
    return 1;
  }
}
