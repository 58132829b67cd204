/**
 * `cni conformance --path DIR --conf FILE [--junit FILE] [--json FILE]`:
 * checks the plugins in DIR against the CNI spec with the network list in
 * FILE, in throwaway network namespaces (a private "host" namespace the
 * plugins run in, and one per container), with its own result cache and, as
 * far as the config allows, its own data directories (`dataDir` of
 * host-local IPAM and of flannel). Prints a table; exit 0 only when nothing failed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isObject, type JsonObject } from '../../lib/cni/conf.ts';
import { confListFromAnyFile, confListFromBytes, goMarshal, type NetworkConfigList } from '../../lib/runtime/index.ts';
import { Runner } from './checks.ts';
import { parseOptions } from '../options.ts';
import { junit, table, type CheckResult } from './report.ts';
import { Sandbox } from './sandbox.ts';

export interface ConformanceArgs {
  path: string[];
  conf: string;
  junit?: string;
  json?: string;
  ifName: string;
  timeoutMs: number;
  parallel: number;
  quiet: boolean;
}

export const USAGE = `usage: cni conformance --path DIR[:DIR...] --conf FILE [--junit FILE] [--json FILE]
                       [--ifname NAME] [--timeout SECONDS] [--parallel N] [--quiet]
  Runs the CNI conformance checks against the plugins in DIR with the network
  configuration (.conf or .conflist) in FILE, in throwaway network namespaces.
  Needs root. Exit status: 0 all passed (or skipped), 1 a check failed, 2 usage.
`;

export function parseArgs(argv: readonly string[]): ConformanceArgs {
  const values = parseOptions(argv, {
    path: { type: 'string' },
    conf: { type: 'string' },
    junit: { type: 'string' },
    json: { type: 'string' },
    ifname: { type: 'string', default: 'eth0' },
    timeout: { type: 'string', default: '60' },
    parallel: { type: 'string', default: '4' },
    quiet: { type: 'boolean', default: false },
  });
  const path = (values.path ?? '').split(':').filter((d) => d !== '').map((d) => resolve(d));
  if (path.length === 0) throw new Error('--path is required');
  if (values.conf === undefined) throw new Error('--conf is required');
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error('--timeout needs a positive number of seconds');
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 2 || parallel > 64) throw new Error('--parallel needs an integer from 2 to 64');
  return {
    path,
    conf: resolve(values.conf),
    ...(values.junit === undefined ? {} : { junit: values.junit }),
    ...(values.json === undefined ? {} : { json: values.json }),
    ifName: values.ifname ?? 'eth0',
    timeoutMs: timeout * 1000,
    parallel,
    quiet: values.quiet === true,
  };
}

/**
 * The list with the run's own data directories: `ipam.dataDir` of every
 * host-local IPAM and `dataDir` (plus a host-local `ipam.dataDir`) of flannel.
 */
export function withPrivateDirs(list: NetworkConfigList, tmp: string): NetworkConfigList {
  const raw = JSON.parse(list.bytes.toString()) as JsonObject;
  const plugins = list.plugins.map((p, i) => {
    const o = structuredClone(p.raw);
    const ipam = isObject(o['ipam']) ? o['ipam'] : undefined;
    if (p.type === 'flannel') {
      o['dataDir'] = join(tmp, `flannel-${i}`);
      if (ipam === undefined || ipam['type'] === undefined || ipam['type'] === 'host-local') o['ipam'] = { ...(ipam ?? {}), type: 'host-local', dataDir: join(tmp, `ipam-${i}`) };
    } else if (ipam !== undefined && ipam['type'] === 'host-local') {
      o['ipam'] = { ...ipam, dataDir: join(tmp, `ipam-${i}`) };
    }
    return o;
  });
  return confListFromBytes(Buffer.from(goMarshal({ ...raw, plugins })));
}

export async function runConformance(args: ConformanceArgs, out: (t: string) => void): Promise<CheckResult[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'cni-conformance-'));
  let sb: Sandbox | undefined;
  let runner: Runner | undefined;
  // interrupted: remove the namespaces and the temp dir, then die of the same signal
  const onSignal = (signal: NodeJS.Signals): void => {
    sb?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.once(sig, onSignal);
  try {
    const list = withPrivateDirs(confListFromAnyFile(args.conf), tmp);
    sb = new Sandbox();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CNI_')) env[k] = v;
    runner = new Runner(sb, {
      paths: args.path,
      list,
      tmp,
      ifName: args.ifName,
      timeoutMs: args.timeoutMs,
      baseEnv: env,
      parallel: args.parallel,
      ...(args.quiet ? {} : { progress: (r: CheckResult) => out(`${r.status.padEnd(4)} ${r.id}${r.reason !== '' ? `: ${r.reason}` : ''}\n`) }),
    });
    await runner.run();
    return runner.rows;
  } finally {
    await runner?.cleanup();
    sb?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
    for (const sig of signals) process.off(sig, onSignal);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: ConformanceArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`cni conformance: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('cni conformance: needs root (it creates network namespaces)\n');
    return 2;
  }
  let rows: CheckResult[];
  try {
    rows = await runConformance(args, (t) => process.stderr.write(t));
  } catch (e) {
    process.stderr.write(`cni conformance: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(table(rows));
  if (args.junit !== undefined) writeFileSync(args.junit, junit(rows, `cni-conformance ${args.conf}`));
  if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify({ path: args.path, conf: args.conf, checks: rows }, null, 2)}\n`);
  return rows.some((r) => r.status === 'fail') ? 1 : 0;
}
