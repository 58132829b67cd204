// Where the real flanneld comes from, for the demo (scripts/demo.mjs) and the real-engine tests
// (test/integration/flanneld-*.test.ts):
//
//   FLANNELD=<path>   that binary, and nothing else (a missing or non-executable one is an error);
//   unset             the flanneld v0.20.2 built once from <repo>/../shared/tools/flanneld (its source archive and
//                     build.sh) into a cache outside the repo, /var/cache/cni-ts/flanneld-v0.20.2-<sha256 of the
//                     archive, 12 hex>/flanneld (CNI_TS_CACHE overrides /var/cache/cni-ts).
//
// Plain JavaScript on purpose: scripts/setup-machine.sh runs it (`node scripts/lib/flanneld.mjs`) before `npm ci`
// installs Node 24, to build the cache on a fresh machine. Types for the tests are in flanneld.d.mts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FLANNELD_VERSION = 'v0.20.2';
const ARCHIVE = `flannel-${FLANNELD_VERSION}.tar.xz`;

/**
 * `<repo>/../shared/tools/flanneld`; in a git worktree (whose `..` is not the clone's) also the main checkout's
 * `../shared`. undefined when neither has the archive and build.sh.
 */
export function sharedToolsDir() {
  const candidates = [join(ROOT, '..', 'shared', 'tools', 'flanneld')];
  const git = spawnSync('git', ['-C', ROOT, 'rev-parse', '--path-format=absolute', '--git-common-dir'], { encoding: 'utf8' });
  if (git.status === 0 && git.stdout.trim() !== '') candidates.push(join(dirname(git.stdout.trim()), '..', 'shared', 'tools', 'flanneld'));
  return candidates.find((d) => existsSync(join(d, ARCHIVE)) && existsSync(join(d, 'build.sh')));
}

function isExecutableFile(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cache directory for the archive in `toolsDir` (keyed by its hash, so a new archive builds anew). */
export function cacheDirFor(toolsDir) {
  const hash = createHash('sha256').update(readFileSync(join(toolsDir, ARCHIVE))).digest('hex').slice(0, 12);
  return join(process.env.CNI_TS_CACHE ?? '/var/cache/cni-ts', `flanneld-${FLANNELD_VERSION}-${hash}`);
}

/**
 * Finds flanneld without building: `{ path, origin }` or `{ problem, fatal }`. `fatal` is true when FLANNELD names
 * something unusable (a user error: the demo and the tests fail on it); false when flanneld is merely not there yet
 * (buildable, or not available at all: `buildable` says which).
 */
export function findFlanneld() {
  const env = process.env.FLANNELD;
  if (env !== undefined && env !== '') {
    const path = resolve(env);
    if (!existsSync(path)) return { problem: `FLANNELD=${env}: no such file`, fatal: true, buildable: false };
    if (!isExecutableFile(path)) return { problem: `FLANNELD=${env}: not an executable file`, fatal: true, buildable: false };
    return { path, origin: `FLANNELD=${env}` };
  }
  const tools = sharedToolsDir();
  if (tools === undefined) {
    return { problem: `no flanneld: FLANNELD is unset and ${join(ROOT, '..', 'shared', 'tools', 'flanneld')} (flannel ${FLANNELD_VERSION}'s source and build.sh) is not there`, fatal: false, buildable: false };
  }
  const path = join(cacheDirFor(tools), 'flanneld');
  if (isExecutableFile(path)) return { path, origin: `built from ${tools}` };
  const missing = ['go', 'gcc'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) return { problem: `no flanneld: building it from ${tools} needs ${missing.join(' and ')} (bash scripts/setup-machine.sh installs them)`, fatal: false, buildable: false };
  return { problem: `flanneld is not built yet (${path})`, fatal: false, buildable: true, tools, target: path };
}

/**
 * findFlanneld, building into the cache when it can. The build runs in a private directory and the binary is
 * renamed into place, so concurrent callers never see half a file. `log` gets one line before a build.
 */
export function locateFlanneld(log = (line) => process.stderr.write(`${line}\n`)) {
  const found = findFlanneld();
  if (!found.buildable) return found;
  const cache = dirname(found.target);
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(cache, '.build-'));
  log(`building flanneld ${FLANNELD_VERSION} once from ${found.tools} into ${cache} (1-2 minutes on an idle machine; cached afterwards)`);
  try {
    const r = spawnSync('bash', [join(found.tools, 'build.sh'), work], {
      encoding: 'utf8',
      env: { ...process.env, GOCACHE: join(work, 'gocache'), TMPDIR: work },
      timeout: 20 * 60_000,
    });
    if (r.status !== 0 || !isExecutableFile(join(work, 'flanneld'))) {
      const why = r.error?.message ?? `${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
      return { problem: `building flanneld from ${found.tools} failed (exit ${r.status ?? r.signal}): ${why}`, fatal: true, buildable: false };
    }
    renameSync(join(work, 'flanneld'), found.target);
    return { path: found.target, origin: `built from ${found.tools}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `flanneld --version`, e.g. "v0.20.2". */
export function flanneldVersion(path) {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

// `node scripts/lib/flanneld.mjs`: locate (building when needed) and print the path; used by setup-machine.sh.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = locateFlanneld();
  if (r.path !== undefined) {
    process.stdout.write(`flanneld: ${r.path} (${flanneldVersion(r.path)}, ${r.origin})\n`);
  } else {
    process.stdout.write(`flanneld: ${r.problem}\n`);
    process.exitCode = r.fatal ? 1 : 0;
  }
}
