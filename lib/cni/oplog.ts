/**
 * The operators' log: with `logFile` (and optionally `logLevel`) in a plugin's
 * config, that plugin appends one JSON line per invocation to the file. Loaded
 * by lib/cni/skel.ts only when the config has a `logFile`, so a run without one
 * (and VERSION, which reads no config) never loads this module.
 *
 * - `logLevel`: "error" (only failed calls), "info" (default: every call),
 *   "debug" (every call plus the steps: delegations and iptables/nft runs with
 *   their duration and exit code, the warnings the plugin printed on stderr).
 *   Anything else is "info".
 * - The line: time, plugin, command, containerId, ifName, netns, network,
 *   cniVersion, the K8S_* pairs of CNI_ARGS (no other CNI_ARGS value: they may
 *   carry secrets), durationMs, exitCode, on failure `error` {code, msg}, on a
 *   successful ADD the addresses it assigned. Never stdin, `args`,
 *   `runtimeConfig` or the environment.
 * - The file is opened O_APPEND|O_CREAT with mode 0600 (and made 0600 if it
 *   was not; missing directories are made 0700); each line is one write(2). Past LOG_MAX_BYTES it is renamed to
 *   `<file>.1` (the previous `.1` goes) before the next line: at most twice
 *   the bound on disk.
 * - Nothing here can fail the call: every error writing the log is swallowed,
 *   and nothing goes to stdout or stderr.
 */
import { closeSync, fchmodSync, fstatSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';
import { mkdirLevels } from '../mkdir.ts';
import type { NetConf } from './conf.ts';
import type { PluginRunner, RawOutput } from './invoke.ts';
import type { Logger } from './skel.ts';
import type { Result } from './types/current.ts';
import type { Step } from './steps.ts';

export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export type LogLevel = 'error' | 'info' | 'debug';

export interface OpLogStart {
  plugin: string;
  command: string;
  containerId: string;
  ifName: string;
  netns: string;
  args: string;
  conf: NetConf;
  startedAt: number;
}

/** The K8S_* pairs of CNI_ARGS; every other value is left out (CNI_ARGS may carry credentials). */
export function k8sArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const k = pair.slice(0, eq);
    if (k.startsWith('K8S_')) out[k] = pair.slice(eq + 1);
  }
  return out;
}

export function levelOf(v: unknown): LogLevel {
  return v === 'error' || v === 'debug' ? v : 'info';
}

/** One invocation's log entry in the making; `finish` writes it. */
export class OpLog {
  readonly file: string;
  readonly level: LogLevel;
  private readonly steps: Step[] = [];

  constructor(
    private readonly start: OpLogStart,
    file: string,
    level: LogLevel,
    private readonly maxBytes = LOG_MAX_BYTES,
  ) {
    this.file = file;
    this.level = level;
  }

  /** Where lib/cni/steps.ts's steps go (debug only). */
  stepSink(): ((s: Step) => void) | undefined {
    return this.level === 'debug' ? (s) => void this.steps.push(s) : undefined;
  }

  /** A runner that notes each delegation (debug only). */
  wrapRunner(runner: PluginRunner): PluginRunner {
    if (this.level !== 'debug') return runner;
    const wrapped: PluginRunner = {
      run: async (path, type, env, stdin): Promise<RawOutput> => {
        const t0 = Date.now();
        const command = env['CNI_COMMAND'] ?? '';
        try {
          const out = await runner.run(path, type, env, stdin);
          this.steps.push({ step: 'delegate', type, command, path, durationMs: Date.now() - t0, exitCode: out.exitCode });
          return out;
        } catch (err) {
          this.steps.push({ step: 'delegate', type, command, path, durationMs: Date.now() - t0, failed: err instanceof Error ? err.message : String(err) });
          throw err;
        }
      },
    };
    if (runner.inProcess !== undefined) wrapped.inProcess = (p, t) => runner.inProcess?.(p, t) ?? false;
    return wrapped;
  }

  /** A logger that also notes the warnings (debug only); stderr gets exactly what it got before. */
  wrapLogger(log: Logger): Logger {
    if (this.level !== 'debug') return log;
    return {
      warn: (msg) => {
        this.steps.push({ step: 'warning', msg });
        log.warn(msg);
      },
    };
  }

  /** Writes the line; never throws. */
  finish(exitCode: number, error: { code: number; msg: string } | undefined, result: Result | undefined): void {
    try {
      if (this.level === 'error' && exitCode === 0) return;
      const s = this.start;
      const entry: Record<string, unknown> = {
        time: new Date(s.startedAt).toISOString(),
        plugin: s.plugin,
        command: s.command,
        containerId: s.containerId,
        ifName: s.ifName,
        netns: s.netns,
        network: s.conf.name,
        cniVersion: s.conf.cniVersion,
        durationMs: Date.now() - s.startedAt,
        exitCode,
        pid: process.pid,
      };
      const k8s = k8sArgs(s.args);
      if (Object.keys(k8s).length > 0) entry['k8s'] = k8s;
      if (error !== undefined) entry['error'] = { code: error.code, msg: error.msg };
      if (result !== undefined) entry['ips'] = (result.ips ?? []).map((ip) => ip.address);
      if (this.level === 'debug') entry['steps'] = this.steps;
      this.append(`${JSON.stringify(entry)}\n`);
    } catch {
      // the log must never fail the call
    }
  }

  private append(line: string): void {
    try {
      if (statSync(this.file).size >= this.maxBytes) renameSync(this.file, `${this.file}.1`);
    } catch {
      // absent (created below) or not ours to rotate: append anyway
    }
    let fd: number;
    try {
      fd = openSync(this.file, 'a', 0o600);
    } catch {
      // a directory that does not exist yet (/var/log/cni on a fresh node): made 0700, then once more
      mkdirLevels(dirname(this.file), 0o700);
      fd = openSync(this.file, 'a', 0o600);
    }
    try {
      if ((fstatSync(fd).mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
      writeSync(fd, line);
    } finally {
      closeSync(fd);
    }
  }
}

/** The log of this invocation when its config asks for one (an absolute `logFile`), else undefined. */
export function startOpLog(start: OpLogStart): OpLog | undefined {
  const file = start.conf['logFile'];
  if (typeof file !== 'string' || !isAbsolute(file)) return undefined;
  return new OpLog(start, file, levelOf(start.conf['logLevel']));
}
