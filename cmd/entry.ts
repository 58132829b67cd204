/**
 * Bundle entry: runs `main` with this executable's registry. scripts/sea-loader.cjs
 * compiles the bundle with its V8 code cache and calls it.
 */
import { main } from '../lib/cni/main.ts';
import { PLUGINS, SUBCOMMANDS, banner } from './registry.ts';

main({ plugins: PLUGINS, subcommands: SUBCOMMANDS, banner }).catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
