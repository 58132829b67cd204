/**
 * Runs the built executable the way a runtime does: env, stdin, stdout.
 * CNI_TS_TARGET picks the build target under test: `node` (dist/bin, the
 * default) or `bun` (dist/bun); scripts/test.mjs runs the integration tests
 * once per target.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TARGETS = { node: 'bin', bun: 'bun' } as const;
export type Target = keyof typeof TARGETS;
const wanted = process.env['CNI_TS_TARGET'] ?? 'node';
if (!(wanted in TARGETS)) throw new Error(`CNI_TS_TARGET=${wanted}: expected one of ${Object.keys(TARGETS).join(', ')}`);
/** The build target the integration tests run. */
export const TARGET = wanted as Target;
export const BIN_DIR = join(ROOT, 'dist', TARGETS[TARGET]);
export const GO_CNI_DIR = '/usr/lib/cni';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  json: unknown;
}

export function binPath(name: string): string {
  const p = join(BIN_DIR, name);
  if (!existsSync(p)) throw new Error(`${p} is missing: run npm run build first`);
  return p;
}

/** Execs `path` with exactly `env` (nothing inherited unless passed) and `stdin`. */
export function runExe(path: string, opts: { env: Record<string, string>; stdin?: string | Buffer; args?: string[]; argv0?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, opts.args ?? [], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.argv0 === undefined ? {} : { argv0: opts.argv0 }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString();
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr: Buffer.concat(err).toString(), json });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** The CNI environment for one call; PATH is kept so iptables etc. can be found. */
export function cniEnv(vars: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  return env;
}
