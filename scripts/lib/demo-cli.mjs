// What both demos (demo-cluster.mjs, demo-two-node.mjs) do before anything else: run on
// Node 24 (they import the TypeScript test helpers; the machine's node may be older), and
// read their `--name=value` options.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Re-runs the script at `scriptUrl` on the project's Node 24 when this node is older, and exits with its status. */
export function onNode24(scriptUrl) {
  if (Number(process.versions.node.split('.')[0]) >= 23) return;
  const node24 = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(node24)) {
    process.stderr.write(`demo: needs Node 24 (run npm ci first); this is node ${process.versions.node}\n`);
    process.exit(1);
  }
  const r = spawnSync(node24, [fileURLToPath(scriptUrl), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** The value of `--name=value` on the command line, or `dflt`. */
export function arg(name, dflt) {
  const hit = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? dflt : hit.slice(name.length + 3);
}
