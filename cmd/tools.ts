/**
 * The runtime-side subcommands, `cni tool` and `cni conformance`: a bundle of
 * their own (build/tools.js), so that the plugins' bundle, its code cache and
 * every plugin run carry none of their code (about 1.3 MiB of private memory
 * per run, measured with `npm run bench`'s runstat). cmd/registry.ts loads it.
 */
import { main as tool } from '../tools/cnitool/index.ts';
import { main as conformance } from '../tools/conformance/index.ts';

export const TOOLS = { tool, conformance } as const;
export type Tools = typeof TOOLS;
