/**
 * The runtime-side subcommands, `cni tool` and `cni conformance`, and the
 * installer, `cni install`: a bundle of their own (build/tools.js), so that
 * the plugins' bundle, its code cache and every plugin run carry none of their
 * code (about 1.3 MiB of private memory per run, measured with `npm run
 * bench`'s runstat). cmd/registry.ts loads it.
 */
import { main as tool } from '../tools/cnitool/index.ts';
import { main as conformance } from '../tools/conformance/index.ts';
import { main as installMain } from '../tools/install/index.ts';

const io = { stdout: (t: string) => void process.stdout.write(t), stderr: (t: string) => void process.stderr.write(t) };

export const TOOLS = {
  tool,
  conformance,
  install: (argv: readonly string[], plugins: readonly string[]): Promise<number> => Promise.resolve(installMain(argv, plugins, io)),
} as const;
export type Tools = typeof TOOLS;
