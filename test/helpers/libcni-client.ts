/**
 * A libcni-based client built from Debian's golang-github-appc-cni-dev
 * (libcni 1.1.x) with Debian's Go compiler, offline, in GOPATH mode: the Go
 * runtime side our cache files must interoperate with. Built once into
 * build/libcni-client; a missing toolchain is an error naming the packages.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './exec.ts';

const GOPATH = '/usr/share/gocode';
const SRC = join(ROOT, 'test', 'go', 'libcni-client', 'main.go');
export const LIBCNI_CLIENT = join(ROOT, 'build', 'libcni-client');

export function buildLibcniClient(): string {
  if (existsSync(LIBCNI_CLIENT) && statSync(LIBCNI_CLIENT).mtimeMs >= statSync(SRC).mtimeMs) return LIBCNI_CLIENT;
  if (!existsSync(join(GOPATH, 'src', 'github.com', 'containernetworking', 'cni', 'libcni'))) {
    throw new Error(`libcni sources missing under ${GOPATH}: scripts/setup-machine.sh installs golang-github-appc-cni-dev`);
  }
  mkdirSync(join(ROOT, 'build', 'gocache'), { recursive: true });
  try {
    execFileSync('go', ['build', '-o', LIBCNI_CLIENT, './test/go/libcni-client'], {
      cwd: ROOT,
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(ROOT, 'build', 'gocache'), GOFLAGS: '', GOPROXY: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new Error(`building the libcni client failed (scripts/setup-machine.sh installs golang-go): ${(e as Error).message}`, { cause: e });
  }
  return LIBCNI_CLIENT;
}
