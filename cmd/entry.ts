/**
 * Bundle entry. Under the V8 startup snapshot the bundle's top level runs at
 * build time, so it only defines functions; `main` runs when the executable starts.
 */
import { startupSnapshot } from 'node:v8';
import { main } from '../lib/cni/main.ts';
import { PLUGINS, SUBCOMMANDS, banner } from './registry.ts';

function start(): void {
  main({ plugins: PLUGINS, subcommands: SUBCOMMANDS, banner }).catch((err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start);
else start();
