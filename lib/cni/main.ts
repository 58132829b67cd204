/**
 * The process entry: picks the plugin from the name the executable was called
 * by, runs it on the real environment, stdin and stdout, and exits. The only
 * place that touches process.env, fd 0/1 and process.exit.
 */
import { readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { Plugin, PluginIO, RunContext } from './skel.ts';
import { runPlugin } from './skel.ts';
import { defaultRunner } from './invoke.ts';
import { errnoCode } from './errors.ts';
import { PLUGINS, banner } from '../registry.ts';
import { loadAddon } from '../native/loader.ts';
import { withNetlink } from '../netlink/index.ts';
import { armProcessDeadline } from './deadline.ts';
import { native } from '../native/loader.ts';

/**
 * `cni selftest`: loads both native addons the way a plugin run does, opens a
 * netlink socket and lists this namespace's links, and says so on stdout; for
 * checking an installation (and for the tests).
 */
async function selftest(): Promise<number> {
  try {
    const own = Object.keys(loadAddon('cni_native')).sort();
    const netlink = Object.keys(loadAddon('netlink') as object).sort();
    const links = await withNetlink(undefined, async (nl) => (await nl.linkList()).map((l) => l.name));
    writeFd(1, `${JSON.stringify({ ok: true, native: own, netlink, links })}\n`);
    return 0;
  } catch (err) {
    writeFd(1, `${JSON.stringify({ ok: false, error: (err as Error).message })}\n`);
    return 1;
  }
}

function writeFd(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if (errnoCode(err) !== 'EAGAIN') throw err;
    }
  }
}

async function readStdin(): Promise<Buffer> {
  try {
    return readFileSync(0);
  } catch (err) {
    if (errnoCode(err) !== 'EAGAIN') throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function processIO(): PluginIO {
  return {
    env: process.env,
    readStdin,
    writeStdout: (t) => writeFd(1, t),
    writeStderr: (t) => writeFd(2, t),
  };
}

/** Which plugin an invocation means: the basename of argv0, else `cni <plugin>`. */
export function selectPlugin(argv0: string, argv: readonly string[]): Plugin | undefined {
  const own = PLUGINS.get(basename(argv0));
  if (own !== undefined) return own;
  const sub = argv[2];
  return sub === undefined ? undefined : PLUGINS.get(sub);
}

/**
 * Runtime-side subcommands, loaded only when asked for so a plugin's VERSION
 * and ADD never evaluate them. (The lead moves this into cmd/'s table.)
 */
type Subcommand = () => Promise<{ main: (argv: readonly string[]) => Promise<number> }>;
const TOOLS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ['tool', () => import('../../tools/cnitool/index.ts')],
  ['conformance', () => import('../../tools/conformance/index.ts')],
]);

export async function main(): Promise<void> {
  const plugin = selectPlugin(process.argv0, process.argv);
  let code: number;
  const tool = plugin === undefined ? TOOLS.get(process.argv[2] ?? '') : undefined;
  if (tool !== undefined) {
    code = await (await tool()).main(process.argv.slice(3));
  } else if (plugin === undefined && process.argv[2] === 'selftest') {
    code = await selftest();
  } else if (plugin === undefined) {
    writeFd(1, banner());
    code = 0;
  } else {
    const io = processIO();
    const ctx: RunContext = {
      runner: defaultRunner({
        plugins: PLUGINS,
        self: process.execPath,
        runInProcess: (p, childIo) => runPlugin(p, childIo, ctx),
        stderr: (t) => io.writeStderr(t),
      }),
    };
    const deadline = armProcessDeadline(plugin.name, process.env, { write: (t) => writeFd(1, t), exit: (c) => process.exit(c) }, native);
    code = await runPlugin(plugin, io, ctx);
    deadline?.disarm();
  }
  process.exit(code);
}
