/**
 * The Go flannel (flannel-io/cni-plugin), built from its source at test time:
 * Debian has no package of it and the project must not carry its code. The
 * source tree is looked for, in order, at `$GO_FLANNEL_SRC` and at
 * /var/cache/cni-ts/flannel-cni-plugin (put it there once, e.g. from a git
 * checkout: `git archive v1.1.2 | tar -x -C /var/cache/cni-ts/flannel-cni-plugin`);
 * it is built offline in GOPATH mode against Debian's Go CNI library
 * (golang-github-appc-cni-dev, libcni 1.1.2, what flannel v1.1.2's go.mod asks
 * for) into build/go-flannel. Where the source or the toolchain is missing,
 * `goFlannel()` says why, for the test to skip with that reason in its title.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './exec.ts';

const GOPATH = '/usr/share/gocode';
export const GO_FLANNEL_CACHE = '/var/cache/cni-ts/flannel-cni-plugin';
const OUT = join(ROOT, 'build', 'go-flannel');

export type GoFlannel = { ok: true; path: string; src: string } | { ok: false; reason: string };

export function goFlannel(): GoFlannel {
  const src = process.env['GO_FLANNEL_SRC'] ?? GO_FLANNEL_CACHE;
  const main = join(src, 'flannel_linux.go');
  if (!existsSync(main) || !existsSync(join(src, 'flannel.go'))) {
    return { ok: false, reason: `no Go flannel source at ${src} (set GO_FLANNEL_SRC, or put flannel-io/cni-plugin v1.1.2 at ${GO_FLANNEL_CACHE})` };
  }
  if (!existsSync(join(GOPATH, 'src', 'github.com', 'containernetworking', 'cni', 'pkg', 'skel'))) {
    return { ok: false, reason: `Debian's Go CNI library is missing under ${GOPATH} (scripts/setup-machine.sh installs golang-github-appc-cni-dev)` };
  }
  if (existsSync(OUT) && statSync(OUT).mtimeMs >= statSync(main).mtimeMs && statSync(OUT).mtimeMs >= statSync(join(src, 'flannel.go')).mtimeMs) {
    return { ok: true, path: OUT, src };
  }
  mkdirSync(join(ROOT, 'build', 'gocache'), { recursive: true });
  try {
    execFileSync('go', ['build', '-o', OUT, '.'], {
      cwd: src,
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(ROOT, 'build', 'gocache'), GOFLAGS: '', GOPROXY: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    return { ok: false, reason: `the Go flannel at ${src} does not build against Debian's libcni in GOPATH mode (golang-go installed?): ${stderr.split('\n').slice(0, 3).join(' / ') || (e as Error).message}` };
  }
  return { ok: true, path: OUT, src };
}
