/**
 * Delegation (CNI spec §4): run another plugin found on CNI_PATH with the same
 * environment, only CNI_COMMAND changed, and the full config on stdin; turn
 * its error JSON back into a CniError. When the plugin found on CNI_PATH is
 * this very executable (same device and inode), it runs in-process with the
 * same inputs and outputs, so flannel → bridge → host-local costs one process.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError, errnoCode } from './errors.ts';
import type { EnvLike } from './env.ts';
import { isObject } from './conf.ts';
import type { Result } from './types/current.ts';
import { parseResult } from './types/convert.ts';
import type { PluginIO } from './io.ts';
import { whenDeadlinePasses } from './deadline.ts';
import { CHAIN_ENV, DelegationCycleError, checkDelegation } from './delegation.ts';

export type DelegateCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

/** What one run of a plugin produced, wherever it ran. */
export interface RawOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a plugin: by exec, or in-process for our own. Injectable for tests. */
export interface PluginRunner {
  run(pluginPath: string, type: string, env: Record<string, string>, stdin: Buffer): Promise<RawOutput>;
  /** True when `run` would run this one in-process (one of ours: a failed ADD of it rolls itself back). */
  inProcess?(pluginPath: string, type: string): boolean;
}

/** No plugin of that name on CNI_PATH (or no valid name, or no CNI_PATH): the delegate never ran. */
export class PluginNotFoundError extends CniError {}

/** Go prints the paths slice as [a b c]. */
function goList(paths: readonly string[]): string {
  return `[${paths.join(' ')}]`;
}

/** The reference's FindInPath: a regular file (symlinks followed) named `type` in the first directory that has one. */
export function findInPath(type: string, paths: readonly string[]): string {
  if (type === '') throw new PluginNotFoundError(CniCode.Internal, 'no plugin name provided');
  if (type.includes('/')) throw new PluginNotFoundError(CniCode.Internal, `invalid plugin name: ${type}`);
  if (paths.length === 0) throw new PluginNotFoundError(CniCode.Internal, 'no paths provided');
  for (const dir of paths) {
    const full = join(dir, type);
    try {
      if (statSync(full).isFile()) return full;
    } catch {
      // not here; try the next directory
    }
  }
  throw new PluginNotFoundError(CniCode.Internal, `failed to find plugin ${JSON.stringify(type)} in path ${goList(paths)}`);
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/**
 * The default runner. `plugins` are the ones compiled into this executable;
 * `self` is the executable's path (process.execPath). `runInProcess` is
 * skel.runPlugin, injected to keep the module graph acyclic (skel imports this
 * module, never the reverse).
 */
export function defaultRunner<P>(opts: {
  plugins: ReadonlyMap<string, P>;
  self: string;
  runInProcess: (plugin: P, io: PluginIO) => Promise<number>;
  stderr: (text: string) => void;
}): PluginRunner {
  return {
    inProcess: (pluginPath, type) => opts.plugins.has(type) && sameFile(pluginPath, opts.self),
    async run(pluginPath, type, env, stdin) {
      const own = opts.plugins.get(type);
      if (own !== undefined && sameFile(pluginPath, opts.self)) {
        let stdout = '';
        const exitCode = await opts.runInProcess(own, {
          env,
          readStdin: () => Promise.resolve(stdin),
          writeStdout: (t) => {
            stdout += t;
          },
          writeStderr: opts.stderr,
        });
        return { exitCode, stdout, stderr: '' };
      }
      return execPlugin(pluginPath, env, stdin, opts.stderr);
    },
  };
}

const ETXTBSY_RETRIES = 5;

/** Execs a plugin; retries while the binary is being replaced (ETXTBSY), as libcni does. */
export async function execPlugin(
  path: string,
  env: Record<string, string>,
  stdin: Buffer,
  onStderr: (t: string) => void,
  opts: { timeoutMs?: number } = {},
): Promise<RawOutput> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await execOnce(path, env, stdin, onStderr, opts.timeoutMs);
    } catch (err) {
      if (errnoCode(err) !== 'ETXTBSY' || attempt >= ETXTBSY_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function execOnce(path: string, env: Record<string, string>, stdin: Buffer, onStderr: (t: string) => void, timeoutMs?: number): Promise<RawOutput> {
  // loaded on first use: our own delegates run in-process, so most runs never need it
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // a bound for runtime-side callers (lib/runtime): a hung plugin is killed and reported
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeoutMs);
    // and the plugin's own deadline (lib/cni/deadline.ts) kills the delegates it started
    const unregister = whenDeadlinePasses(() => child.kill('SIGKILL'));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      onStderr(c.toString());
    });
    child.on('error', reject);
    child.stdin.on('error', () => {
      // the child may exit without reading stdin; its exit status tells the story
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      unregister();
      const stderr = Buffer.concat(err).toString() + (timedOut ? `killed after ${timeoutMs} ms without an answer` : '');
      resolve({ exitCode: timedOut ? 137 : (code ?? (signal === null ? 1 : 128)), stdout: timedOut ? '' : Buffer.concat(out).toString(), stderr });
    });
    child.stdin.end(stdin);
  });
}

/** Turns a failed run into the CniError the plugin reported (libcni's pluginErr). */
export function pluginError(out: RawOutput): CniError {
  const stdout = out.stdout.trim();
  if (stdout === '') {
    const stderr = out.stderr.trim();
    if (stderr !== '') return new CniError(CniCode.Internal, `netplugin failed: ${JSON.stringify(stderr)}`);
    return new CniError(CniCode.Internal, `netplugin failed with no error message: exit status ${out.exitCode}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (e) {
    return new CniError(CniCode.Internal, `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout)}: ${(e as Error).message}`);
  }
  if (isObject(parsed) && typeof parsed['code'] === 'number' && typeof parsed['msg'] === 'string') {
    return new CniError(parsed['code'], parsed['msg'], typeof parsed['details'] === 'string' ? parsed['details'] : '');
  }
  return new CniError(CniCode.Internal, `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout)}: not a CNI error`);
}

/** The CNI error a plugin printed on stdout ({code: integer, msg: string}), if that is what it printed. */
function errorObjectIn(stdout: string): CniError | undefined {
  const t = stdout.trim();
  if (!t.startsWith('{') || !t.includes('"code"')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || !Number.isInteger(parsed['code']) || typeof parsed['msg'] !== 'string') return undefined;
  return new CniError(parsed['code'] as number, parsed['msg'], typeof parsed['details'] === 'string' ? parsed['details'] : '');
}

function plainEnv(env: EnvLike, command: DelegateCommand): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out['CNI_COMMAND'] = command;
  return out;
}

/** Delegation bound to one invocation's environment and CNI_PATH. */
export class Invoker {
  constructor(
    private readonly env: EnvLike,
    private readonly paths: readonly string[],
    private readonly runner: PluginRunner,
    /** The delegating plugin's name, for the cycle and depth check (lib/cni/delegation.ts). */
    private readonly self?: string,
  ) {}

  private async run(command: DelegateCommand, type: string, conf: Buffer | object): Promise<RawOutput> {
    const chain = this.self === undefined ? undefined : checkDelegation(this.env, this.self, type);
    const path = findInPath(type, this.paths);
    const stdin = Buffer.isBuffer(conf) ? conf : Buffer.from(JSON.stringify(conf));
    const env = plainEnv(this.env, command);
    if (chain !== undefined) env[CHAIN_ENV] = chain;
    const out = await this.runner.run(path, type, env, stdin);
    if (out.exitCode !== 0) throw pluginError(out);
    // an error object is a failure whatever the exit status (a plugin that prints one and exits 0)
    const printed = errorObjectIn(out.stdout);
    if (printed !== undefined) throw printed;
    return out;
  }

  /** True when a failed ADD of `type` is known to leave nothing (our own plugin, run in-process). */
  rollsBack(type: string): boolean {
    try {
      return this.runner.inProcess?.(findInPath(type, this.paths), type) ?? false;
    } catch {
      return false;
    }
  }

  /** ADD; the delegate's result, converted to the current version. */
  async add(type: string, conf: Buffer | object, confVersion: string): Promise<Result> {
    const out = await this.run('ADD', type, conf);
    let json: unknown;
    try {
      json = JSON.parse(out.stdout);
    } catch (e) {
      throw new CniError(CniCode.DecodingFailure, `failed to parse the result of plugin ${JSON.stringify(type)}: ${(e as Error).message}`);
    }
    return parseResult(json, confVersion);
  }

  /** DEL; a delegation refused as a cycle is nothing to release (the ADD of that config could not have run). */
  async del(type: string, conf: Buffer | object): Promise<void> {
    try {
      await this.run('DEL', type, conf);
    } catch (err) {
      if (!(err instanceof DelegationCycleError)) throw err;
    }
  }

  async check(type: string, conf: Buffer | object): Promise<void> {
    await this.run('CHECK', type, conf);
  }

  async gc(type: string, conf: Buffer | object): Promise<void> {
    await this.run('GC', type, conf);
  }

  async status(type: string, conf: Buffer | object): Promise<void> {
    await this.run('STATUS', type, conf);
  }
}
