/**
 * `cni tool add|check|del|gc|status NETWORK NETNS`: cnitool 1.x (v1.3.0,
 * containernetworking/cni cnitool/cnitool.go) on our runtime library. Same
 * environment (NETCONFPATH, CNI_PATH, CNI_ARGS, CAP_ARGS, CNI_IFNAME), same
 * container id (`cnitool-` + hex of the first 10 bytes of SHA-512 of the
 * absolute netns path), same output: ADD prints the result (4-space indent,
 * no trailing newline), every error is one line on stderr and exit 1.
 * Differences: NETNS may be omitted for gc/status (cnitool requires it and
 * ignores it), and an unknown verb prints the usage and exits 1 (cnitool
 * exits 0 doing nothing).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { isObject, type JsonObject } from '../../lib/cni/conf.ts';
import { CniConfig, loadNetworkConf, type RuntimeConf } from '../../lib/runtime/index.ts';

export const DEFAULT_NET_DIR = '/etc/cni/net.d';
const VERBS = ['add', 'check', 'del', 'gc', 'status'] as const;
type Verb = (typeof VERBS)[number];

export interface ToolIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** cnitool's container id for a netns path (made absolute against `cwd`, symlinks not resolved). */
export function containerIdFor(netns: string, cwd: string): string {
  const abs = resolve(cwd, netns);
  return `cnitool-${createHash('sha512').update(abs).digest('hex').slice(0, 20)}`;
}

/** cnitool's `parseArgs`: `;`-separated pairs, each exactly `k=v` with both parts non-empty. */
export function parseToolArgs(raw: string): [string, string][] {
  return raw.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '' || kv[1] === '') throw new Error(`invalid CNI_ARGS pair ${JSON.stringify(pair)}`);
    return [kv[0]!, kv[1]!];
  });
}

/** CAP_ARGS: a JSON object (Go's error text for anything else). */
export function parseCapArgs(raw: string): JsonObject | undefined {
  if (raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new Error((e as Error).message, { cause: e });
  }
  if (v === null) return undefined;
  if (!isObject(v)) throw new Error(`json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go value of type map[string]interface {}`);
  return v;
}

/** CNI_PATH as Go's filepath.SplitList: empty → no directories. */
export function splitList(path: string | undefined): string[] {
  return path === undefined || path === '' ? [] : path.split(':');
}

export function usage(exe: string): string {
  const lines = [`${exe}: Add, check, remove, gc or status network interfaces from a network namespace`];
  for (const v of VERBS) lines.push(`  ${exe} ${v.padEnd(6)} <net> <netns>`);
  return `${lines.join('\n')}\n`;
}

/** Indent like Go's json.MarshalIndent(v, "", "    "). */
function printResult(result: JsonObject): string {
  return JSON.stringify(result, null, 4).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function runTool(argv: readonly string[], io: ToolIO): Promise<number> {
  const [verb, net, netnsArg] = argv;
  const needsNetns = verb !== 'gc' && verb !== 'status';
  if (verb === undefined || net === undefined || (needsNetns && netnsArg === undefined) || !(VERBS as readonly string[]).includes(verb)) {
    io.stderr(usage('cni tool'));
    return 1;
  }
  try {
    const netdir = io.env['NETCONFPATH'] === undefined || io.env['NETCONFPATH'] === '' ? DEFAULT_NET_DIR : io.env['NETCONFPATH'];
    const list = loadNetworkConf(netdir, net);
    const capabilityArgs = parseCapArgs(io.env['CAP_ARGS'] ?? '');
    const rawArgs = io.env['CNI_ARGS'] ?? '';
    const args = rawArgs === '' ? undefined : parseToolArgs(rawArgs);
    const ifName = io.env['CNI_IFNAME'] ?? 'eth0';
    const netns = netnsArg === undefined ? '' : resolve(io.cwd, netnsArg);
    const rt: RuntimeConf = {
      containerId: netnsArg === undefined ? '' : containerIdFor(netnsArg, io.cwd),
      netns,
      ifName,
      ...(args !== undefined ? { args } : {}),
      ...(capabilityArgs !== undefined ? { capabilityArgs } : {}),
    };
    const cni = new CniConfig({
      paths: splitList(io.env['CNI_PATH']),
      ...(io.env['CNI_CACHE_DIR'] !== undefined && io.env['CNI_CACHE_DIR'] !== '' ? { cacheDir: io.env['CNI_CACHE_DIR'] } : {}),
      baseEnv: io.env,
      onStderr: io.stderr,
    });
    switch (verb as Verb) {
      case 'add':
        io.stdout(printResult(await cni.addNetworkList(list, rt)));
        break;
      case 'check':
        await cni.checkNetworkList(list, rt);
        break;
      case 'del':
        await cni.delNetworkList(list, rt);
        break;
      case 'gc':
        await cni.gcNetworkList(list, undefined);
        break;
      case 'status':
        await cni.statusNetworkList(list);
        break;
    }
    return 0;
  } catch (e) {
    io.stderr(`${(e as Error).message}\n`);
    return 1;
  }
}

export function main(argv: readonly string[]): Promise<number> {
  return runTool(argv, {
    env: process.env,
    cwd: process.cwd(),
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  });
}
