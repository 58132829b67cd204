/**
 * The process entry: picks the plugin from the name the executable was called
 * by, runs it on the real environment, stdin and stdout, and exits. The only
 * place that touches process.env, fd 0/1 and process.exit.
 */
import { readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { LazyPlugin, PluginIO, RunContext } from './skel.ts';
import { runPlugin } from './skel.ts';
import { defaultRunner } from './invoke.ts';
import { errnoCode } from './errors.ts';
import { nativeIfLoaded, native } from '../native/loader.ts';
import { armProcessDeadline } from './deadline.ts';
import { host } from '../host.ts';

/** What the executable contains; cmd/registry.ts supplies it (the composition root sits above lib/). */
export interface Registry {
  plugins: ReadonlyMap<string, LazyPlugin>;
  subcommands: ReadonlyMap<string, (argv: readonly string[]) => Promise<number>>;
  /** What `cni` alone and `cni --help` print (stdout); also the usage for a mistyped argument (stderr). */
  banner(): string;
}

/** `cni --version`, `cni -h` and friends: the spellings of the registry's `version` subcommand and of the banner. */
const ALIASES: Readonly<Record<string, string>> = { '--version': 'version', '-V': 'version' };
const HELP = new Set(['--help', '-h', 'help']);

export function writeFd(fd: number, text: string): void {
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
export function selectPlugin(plugins: Registry['plugins'], argv0: string, argv: readonly string[]): LazyPlugin | undefined {
  const own = plugins.get(basename(argv0));
  if (own !== undefined) return own;
  const sub = argv[2];
  return sub === undefined ? undefined : plugins.get(sub);
}

export async function main(registry: Registry): Promise<void> {
  const PLUGINS = registry.plugins;
  const plugin = selectPlugin(PLUGINS, process.argv0, process.argv);
  const arg = process.argv[2];
  const subcommand = plugin === undefined && arg !== undefined ? registry.subcommands.get(ALIASES[arg] ?? arg) : undefined;
  let code: number;
  if (subcommand !== undefined) {
    code = await subcommand(process.argv.slice(3));
  } else if (plugin === undefined && (arg === undefined || HELP.has(arg))) {
    writeFd(1, registry.banner());
    code = 0;
  } else if (plugin === undefined) {
    // a typo must not look like success to a script
    writeFd(2, `cni: unknown subcommand or option ${JSON.stringify(arg)}\n${registry.banner()}`);
    code = 2;
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
  // stdout and stderr are written synchronously, so nothing is left to flush. Where our addon is
  // loaded already (every run that entered a namespace), _exit skips Node's teardown, which joins
  // its worker threads; the build's training runs need that teardown (they write the code cache).
  const addon = nativeIfLoaded();
  if (addon !== undefined && host()?.training === undefined) addon.exit(code);
  process.exit(code);
}
