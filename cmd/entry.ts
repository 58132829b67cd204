/**
 * Bundle entry: the executable's loader (scripts/sea-loader.cjs for Node,
 * scripts/bun-entry.mjs for Bun) calls `start` with its typed host object
 * (lib/host.ts), and `main` runs with this executable's registry.
 */
import { type Host, setHost } from '../lib/host.ts';
import { main } from '../lib/cni/main.ts';
import { PLUGINS, SUBCOMMANDS, banner } from './registry.ts';

export type { Host } from '../lib/host.ts';

export function start(host: Host): void {
  setHost(host);
  main({ plugins: PLUGINS, subcommands: SUBCOMMANDS, banner }).catch((err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
