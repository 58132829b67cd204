/**
 * The protocol boundary: environment, stdin, version reconciliation, command
 * gating, result printing and error printing, with every input and output
 * injected (PluginIO) so that the same code serves a real process, an
 * in-process delegation and the unit tests. Modelled on the reference skel
 * (containernetworking/cni pkg/skel); where we differ it says so.
 */
import { statSync } from 'node:fs';
import { CniCode, CniError } from './errors.ts';
import { type Command, type EnvLike, isCommand, readCniEnv, splitCniPath, validateNetworkName } from './env.ts';
import { type NetConf, isObject } from './conf.ts';
import { goQuoteList, versionGte, SUPPORTED_VERSIONS, CURRENT_VERSION } from './version.ts';
import type { Result } from './types/current.ts';
import { resultToVersion } from './types/convert.ts';
import { Invoker, type PluginRunner, execPlugin } from './invoke.ts';
import { MAX_JSON_DEPTH, tooDeep } from './json-depth.ts';
import { isBug, rootCause } from './bug.ts';
import type { PluginIO } from './io.ts';
import type { OpLog } from './oplog.ts';
import { setStepSink, type Step } from './steps.ts';

export type { PluginIO };

export interface CmdArgs {
  command: Command;
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS as given; parse with lib/cni/args.ts. */
  args: string;
  /** CNI_PATH split into directories. */
  path: string[];
  stdinData: Buffer;
  /** stdin parsed; unknown keys kept. `cniVersion` is the effective version ("0.1.0" when absent). */
  conf: NetConf;
  /** The environment this invocation got, for delegation (only CNI_COMMAND changes). */
  env: EnvLike;
  log: Logger;
  /** Delegation with this invocation's environment and CNI_PATH. */
  invoke: Invoker;
}

/** How delegates run; lib/cni/main.ts supplies one that runs our own plugins in-process. */
export interface RunContext {
  runner: PluginRunner;
}

export interface Logger {
  warn(msg: string): void;
}

/** What VERSION and the about text need: known without loading the plugin's code. */
export interface PluginInfo {
  /** The name it is called by (the basename of argv0). */
  name: string;
  /** One line for stderr when run without CNI_COMMAND, e.g. "CNI plugin bridge v0.1.0". */
  about: string;
  supportedVersions: readonly string[];
}

/** A plugin whose code loads on first use (cmd/registry.ts): VERSION never loads it. */
export interface LazyPlugin extends PluginInfo {
  load(): Promise<Plugin>;
}

export interface Plugin extends PluginInfo {
  add(args: CmdArgs): Promise<Result>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  gc(args: CmdArgs): Promise<void>;
  status(args: CmdArgs): Promise<void>;
}

/** The reference prints results and errors with json.MarshalIndent(v, "", "    ") and no trailing newline. */
export function prettyJson(v: unknown): string {
  return JSON.stringify(v, null, 4);
}

function decodeConf(stdin: Buffer): NetConf {
  if (tooDeep(stdin)) throw new CniError(CniCode.DecodingFailure, 'error unmarshall network config: exceeded max depth', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin.toString('utf8'));
  } catch (err) {
    throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) {
    throw new CniError(CniCode.DecodingFailure, 'error unmarshall network config: network config is not a JSON object');
  }
  const name = parsed['name'];
  if (name !== undefined && name !== null && typeof name !== 'string') {
    throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: "name" must be a string, got ${JSON.stringify(name)}`);
  }
  if (name === undefined || name === null || name === '') throw new CniError(CniCode.InvalidNetworkConfig, 'missing network name');
  validateNetworkName(name);
  const v = parsed['cniVersion'];
  if (v !== undefined && v !== null && typeof v !== 'string') {
    throw new CniError(CniCode.DecodingFailure, `decoding version from network config: "cniVersion" must be a string, got ${JSON.stringify(v)}`);
  }
  const type = parsed['type'];
  if (type !== undefined && type !== null && typeof type !== 'string') {
    throw new CniError(CniCode.DecodingFailure, `error unmarshall network config: "type" must be a string, got ${JSON.stringify(type)}`);
  }
  return { ...parsed, name, cniVersion: typeof v === 'string' && v !== '' ? v : '0.1.0', type: typeof type === 'string' ? type : '' };
}

function reconcile(configVersion: string, supported: readonly string[]): void {
  if (!supported.includes(configVersion)) {
    throw new CniError(CniCode.IncompatibleCNIVersion, 'incompatible CNI versions', `config is ${JSON.stringify(configVersion)}, plugin supports ${goQuoteList(supported)}`);
  }
}

function requireAtLeast(configVersion: string, floor: string, command: string, supported: readonly string[]): void {
  let ok: boolean;
  try {
    ok = versionGte(configVersion, floor);
  } catch (err) {
    throw new CniError(CniCode.DecodingFailure, (err as Error).message);
  }
  if (!ok) throw new CniError(CniCode.IncompatibleCNIVersion, `config version does not allow ${command}`);
  if (!supported.some((p) => versionGte(p, configVersion))) {
    throw new CniError(CniCode.IncompatibleCNIVersion, `plugin version does not allow ${command}`);
  }
}

/**
 * Refuses a CNI_NETNS that is the plugin's own namespace (pid reuse would make
 * us configure the host). The reference checks this only after ADD/DEL have
 * already run; we check before anything is touched.
 */
function refuseOwnNetns(netns: string, override: string): void {
  if (netns === '' || override.toUpperCase() === 'TRUE' || override === '1') return;
  let target;
  let own;
  try {
    target = statSync(netns);
    own = statSync('/proc/self/ns/net');
  } catch {
    return; // a missing namespace is the plugin's business (DEL treats it as gone)
  }
  if (target.dev === own.dev && target.ino === own.ino) {
    throw new CniError(CniCode.InvalidNetNS, "plugin's netns and netns from CNI_NETNS should not be the same");
  }
}

export function versionJson(supported: readonly string[]): string {
  return `${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: supported })}\n`;
}

/** What dispatch learnt that the operators' log (lib/cni/oplog.ts) needs once the call is over. */
interface Outcome {
  oplog?: OpLog;
  result?: Result;
  /** The step sink before this call's debug log took over (lib/cni/steps.ts), restored at the end. */
  prevSink?: ((s: Step) => void) | undefined;
}

/** Runs one invocation of `plugin` and returns the exit code; never throws. */
export async function runPlugin(plugin: Plugin | LazyPlugin, io: PluginIO, ctx?: RunContext): Promise<number> {
  const log: Logger = { warn: (msg) => io.writeStderr(`${plugin.name}: ${msg}\n`) };
  const runner: PluginRunner = ctx?.runner ?? { run: (path, _type, env, stdin) => execPlugin(path, env, stdin, (t) => io.writeStderr(t)) };
  const outcome: Outcome = {};
  try {
    await dispatch(plugin, io, log, runner, outcome);
    outcome.oplog?.finish(0, undefined, outcome.result);
    return 0;
  } catch (err) {
    if (err instanceof AboutShown) return 0;
    const e = CniError.from(err);
    const bug = rootCause(err);
    if (isBug(err) && bug instanceof Error && bug.stack !== undefined) io.writeStderr(`${plugin.name}: ${bug.stack}\n`);
    io.writeStdout(prettyJson(e.toJSON()));
    outcome.oplog?.finish(1, { code: e.code, msg: e.msg }, undefined);
    return 1;
  } finally {
    if ('prevSink' in outcome) setStepSink(outcome.prevSink);
  }
}

/** Thrown past the handlers when the about text was printed instead of running a command. */
class AboutShown extends Error {}

async function dispatch(info: Plugin | LazyPlugin, io: PluginIO, log: Logger, runner: PluginRunner, outcome: Outcome): Promise<void> {
  const startedAt = Date.now();
  let env;
  try {
    env = readCniEnv(io.env);
  } catch (err) {
    if (err instanceof CniError && err.code === CniCode.InvalidEnvironmentVariables && (io.env['CNI_COMMAND'] ?? '') === '' && info.about !== '') {
      io.writeStderr(`${info.about}\nCNI protocol versions supported: ${info.supportedVersions.join(', ')}\n`);
      throw new AboutShown();
    }
    throw err;
  }
  if (env.command === 'VERSION') {
    io.writeStdout(versionJson(info.supportedVersions));
    return;
  }
  let stdin: Buffer;
  try {
    stdin = await io.readStdin();
  } catch (err) {
    throw new CniError(CniCode.IOFailure, `error reading from stdin: ${(err as Error).message}`);
  }
  const conf = decodeConf(stdin);
  const command = env.command;
  if (conf['logFile'] !== undefined) {
    // the operators' log (conflist key logFile): its module loads only for a config that asks for it
    const { startOpLog } = await import('./oplog.ts');
    const oplog = startOpLog({ plugin: info.name, command, containerId: env.containerId, ifName: env.ifName, netns: env.netns, args: env.args, conf, startedAt });
    if (oplog !== undefined) {
      outcome.oplog = oplog;
      runner = oplog.wrapRunner(runner);
      log = oplog.wrapLogger(log);
      const sink = oplog.stepSink();
      if (sink !== undefined) outcome.prevSink = setStepSink(sink);
    }
  }
  if (!isCommand(command)) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, `unknown CNI_COMMAND: ${command}`);
  }
  const supported = info.supportedVersions;
  const path = splitCniPath(env.path);
  const args: CmdArgs = {
    command,
    containerId: env.containerId,
    netns: env.netns,
    ifName: env.ifName,
    args: env.args,
    path,
    stdinData: stdin,
    conf,
    env: io.env,
    log,
    invoke: new Invoker(io.env, path, runner, info.name),
  };
  const plugin = 'load' in info ? await info.load() : info;
  switch (command) {
    case 'ADD': {
      reconcile(conf.cniVersion, supported);
      refuseOwnNetns(env.netns, env.netnsOverride);
      const result = await plugin.add(args);
      outcome.result = result;
      io.writeStdout(prettyJson(resultToVersion(result, conf.cniVersion)));
      return;
    }
    case 'DEL':
      reconcile(conf.cniVersion, supported);
      refuseOwnNetns(env.netns, env.netnsOverride);
      await plugin.del(args);
      return;
    case 'CHECK':
      requireAtLeast(conf.cniVersion, '0.4.0', 'CHECK', supported);
      reconcile(conf.cniVersion, supported);
      refuseOwnNetns(env.netns, env.netnsOverride);
      await plugin.check(args);
      return;
    case 'GC':
      requireAtLeast(conf.cniVersion, '1.1.0', 'GC', supported);
      reconcile(conf.cniVersion, supported);
      await plugin.gc(args);
      return;
    case 'STATUS':
      requireAtLeast(conf.cniVersion, '1.1.0', 'STATUS', supported);
      reconcile(conf.cniVersion, supported);
      await plugin.status(args);
      return;
  }
}

export { SUPPORTED_VERSIONS };
