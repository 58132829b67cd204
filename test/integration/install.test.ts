/**
 * `cni install` and `npm run install-plugins` (which runs it) on the built
 * executable, in temp dirs: the executable, one link per plugin of the
 * registry, a replaced Go plugin kept once as .orig, the conflist; a second run
 * changes nothing (inodes, mtimes); a read-only directory, an unknown plugin
 * and a bad conflist are refused clearly. Also `cni --version` and the usage
 * on a mistyped subcommand.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PLUGIN_NAMES } from '../../cmd/registry.ts';
import { BIN_DIR, GO_CNI_DIR, ROOT, TARGET } from '../helpers/exec.ts';

const EXE = join(BIN_DIR, 'cni');
const CONFLIST = join(ROOT, 'conf-examples', 'flannel-kube-1.0.0.conflist');
const work = mkdtempSync(join(tmpdir(), 'dp-install-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cni(args: string[], argv0?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(EXE, args, { encoding: 'utf8', timeout: 60_000, ...(argv0 !== undefined ? { argv0 } : {}), env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** path → [inode, mtime, link target or size] for every entry of `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const st = lstatSync(join(dir, n), { bigint: true });
    out[n] = `${st.ino} ${st.mtimeNs} ${st.isSymbolicLink() ? `-> ${readlinkSync(join(dir, n))}` : `${st.size}`}`;
  }
  return out;
}

describe('cni --version and the usage', () => {
  it('prints one version line in the multi-call convention, for --version and version alike', () => {
    const a = cni(['--version']);
    const b = cni(['version']);
    expect(a.code).toBe(0);
    const runtime = TARGET === 'bun' ? String.raw`bun \d+\.\d+\.\d+` : String.raw`node v24\.\d+\.\d+`;
    expect(a.stdout).toMatch(new RegExp(String.raw`^CNI plugins plugin v\d+\.\d+\.\d+\S* \(cni-ts\) commit [0-9a-f]{7,}(\+dirty)? ${runtime} target ${TARGET}\n$`));
    expect(b.stdout).toBe(a.stdout);
    expect(a.stderr).toBe('');
  });

  it.each([['bogus'], ['--bogus'], ['version', 'extra']])('refuses %j with the usage on stderr and exit 2', (...args) => {
    const r = cni(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('usage: cni ');
    expect(r.stderr).toContain(`plugins: ${PLUGIN_NAMES.join(', ')}`);
  });

  it('keeps the banner for `cni` alone and --help (stdout, exit 0), and each plugin link ignores arguments', () => {
    for (const args of [[], ['--help']]) {
      const r = cni(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^cni-ts \d+\.\d+\.\d+ \(commit /);
      expect(r.stdout).toContain('subcommands: selftest, version, install');
    }
    const viaLink = spawnSync(EXE, ['bogus'], { encoding: 'utf8', argv0: join(BIN_DIR, 'bridge'), env: { CNI_COMMAND: 'VERSION' } });
    expect(viaLink.status).toBe(0);
    expect(JSON.parse(viaLink.stdout)).toMatchObject({ cniVersion: '1.1.0' });
  });
});

describe('cni install', () => {
  it('installs the executable, a link per plugin, keeps a Go plugin once as .orig, installs the conflist; a second run changes nothing', () => {
    const bin = join(work, 'a', 'opt', 'cni', 'bin');
    const net = join(work, 'a', 'etc', 'cni', 'net.d');
    mkdirSync(bin, { recursive: true });
    copyFileSync(join(GO_CNI_DIR, 'portmap'), join(bin, 'portmap'));
    const args = ['install', '--dest', bin, '--conflist', CONFLIST, '--conf-dir', net, '--conf-name', '10-flannel.conflist'];
    const r = cni(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${join(bin, 'cni')} installed`);
    expect(readFileSync(join(bin, 'cni')).equals(readFileSync(EXE))).toBe(true);
    expect(lstatSync(join(bin, 'cni')).mode & 0o777).toBe(0o755);
    for (const p of PLUGIN_NAMES) expect(readlinkSync(join(bin, p))).toBe('cni');
    expect(readFileSync(join(bin, 'portmap.orig')).equals(readFileSync(join(GO_CNI_DIR, 'portmap')))).toBe(true);
    expect(readFileSync(join(net, '10-flannel.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));
    expect(readdirSync(bin).sort()).toEqual(['cni', ...PLUGIN_NAMES, 'portmap.orig'].sort());
    // the installed links work
    const v = spawnSync(join(bin, 'flannel'), [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
    expect(v.status).toBe(0);

    const before = { bin: snapshot(bin), net: snapshot(net), dirs: [lstatSync(bin).mtimeMs, lstatSync(net).mtimeMs] };
    const again = cni(args);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/ unchanged$/gm)).toHaveLength(PLUGIN_NAMES.length + 2);
    expect({ bin: snapshot(bin), net: snapshot(net), dirs: [lstatSync(bin).mtimeMs, lstatSync(net).mtimeMs] }).toEqual(before);

    // a third run after the Go plugin came back (a copy-over installer ran): replaced again, .orig kept as it was
    rmSync(join(bin, 'portmap'));
    copyFileSync(join(GO_CNI_DIR, 'bridge'), join(bin, 'portmap'));
    const origBefore = snapshot(bin)['portmap.orig'];
    expect(cni(args).code).toBe(0);
    expect(readlinkSync(join(bin, 'portmap'))).toBe('cni');
    expect(snapshot(bin)['portmap.orig']).toBe(origBefore);
  });

  it('replaces a changed conflist (keeping the name of a *.conflist FILE) and --only links just those plugins', () => {
    const bin = join(work, 'b', 'bin');
    const net = join(work, 'b', 'net.d');
    mkdirSync(net, { recursive: true });
    writeFileSync(join(net, '10-flannel.conflist'), '{"other": true}');
    writeFileSync(join(net, 'flannel-kube-1.0.0.conflist'), '{"old": true}');
    const r = cni(['install', '--dest', bin, '--only', 'flannel,host-local', '--conflist', CONFLIST, '--conf-dir', net]);
    expect(r.code).toBe(0);
    expect(readdirSync(bin).sort()).toEqual(['cni', 'flannel', 'host-local']);
    // a FILE named *.conflist keeps its name
    expect(readdirSync(net).sort()).toEqual(['10-flannel.conflist', 'flannel-kube-1.0.0.conflist'].sort());
    expect(r.stdout).toContain(`${join(net, 'flannel-kube-1.0.0.conflist')} replaced`);
    expect(readFileSync(join(net, 'flannel-kube-1.0.0.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));
    expect(readFileSync(join(net, '10-flannel.conflist'), 'utf8')).toBe('{"other": true}');
  });

  it('names kube-flannel cni-conf.json 10-flannel.conflist by default and refuses a bad conflist without touching the old one', () => {
    const net = join(work, 'c', 'net.d');
    mkdirSync(net, { recursive: true });
    const json = join(work, 'c', 'cni-conf.json');
    copyFileSync(CONFLIST, json);
    expect(cni(['install', '--conflist', json, '--conf-dir', net]).code).toBe(0);
    expect(readdirSync(net)).toEqual(['10-flannel.conflist']);
    writeFileSync(json, '{"name": "cbr0", "plugins": "nope"}');
    const bad = cni(['install', '--conflist', json, '--conf-dir', net]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^cni install: .*cni-conf\.json is not a valid conflist: error parsing configuration list: invalid 'plugins' type/);
    expect(readFileSync(join(net, '10-flannel.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));
  });

  it("keeps someone else's cni (k3s' multi-call Go binary has that name) once as cni.orig, never a build of ours", () => {
    const bin = join(work, 'k3s-like');
    mkdirSync(bin);
    copyFileSync(join(GO_CNI_DIR, 'bridge'), join(bin, 'cni'));
    const r = cni(['install', '--dest', bin, '--only', 'bridge']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${join(bin, 'cni')} replaced (the previous file kept as ${join(bin, 'cni.orig')})`);
    expect(readFileSync(join(bin, 'cni.orig')).equals(readFileSync(join(GO_CNI_DIR, 'bridge')))).toBe(true);
    // an older build of ours (other bytes) is replaced without a copy kept
    const other = join(work, 'k3s-like-2');
    mkdirSync(other);
    copyFileSync(EXE, join(other, 'cni'));
    writeFileSync(join(other, 'cni'), 'padding', { flag: 'a' });
    expect(cni(['install', '--dest', other, '--only', 'bridge']).code).toBe(0);
    expect(readdirSync(other).sort()).toEqual(['bridge', 'cni']);
  });

  it('says clearly that a read-only bin dir cannot be written (exit 1, nothing left)', () => {
    const ro = join(work, 'ro');
    mkdirSync(ro);
    // a read-only tmpfs in a private mount namespace: root ignores permission bits, not EROFS
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o ro tmpfs "$1" && exec "$2" install --dest "$1"`, 'sh', ro, EXE], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`cni install: create a file in ${ro}: read-only file system (EROFS) (is the host directory mounted read-write, and is this run as root?)\n`);
    expect(readdirSync(ro)).toEqual([]);
  });

  it.each([
    [['install'], 'nothing to do'],
    [['install', '--dest', '/x', '--only', 'flannel,nope'], 'unknown plugin nope'],
    [['install', '--conflist', 'x'], '--conflist and --conf-dir go together'],
    [['install', '--dest'], '--dest needs a value'],
    [['install', '/opt/cni/bin'], 'unknown argument "/opt/cni/bin"'],
  ])('refuses %j with the usage (exit 2)', (args, msg) => {
    const r = cni(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(msg);
    expect(r.stderr).toContain('usage: cni install');
  });

  it('prints its usage on stdout for --help', () => {
    const r = cni(['install', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: cni install \[--dest DIR\]/);
    expect(r.stderr).toBe('');
  });

  it('is what npm run install-plugins runs (a positional bin dir, --only passed on)', () => {
    const bin = join(work, 'npm-bin');
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install.mjs'), bin, '--only', 'bridge'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(readdirSync(bin).sort()).toEqual(['bridge', 'cni']);
    expect(existsSync(join(bin, 'flannel'))).toBe(false);
  });
});

describe('install-plugins build targets', () => {
  const install = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'scripts', 'install.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  const runtimeOf = (exe: string): unknown => (JSON.parse(spawnSync(exe, ['selftest'], { encoding: 'utf8' }).stdout) as { runtime?: unknown }).runtime;

  it('installs the Bun target by default and the Node target with --target node; refuses an unknown target', async () => {
    const { DEFAULT_TARGET } = (await import(join(ROOT, 'scripts', 'targets.mjs'))) as { DEFAULT_TARGET: string };
    expect(DEFAULT_TARGET).toBe('bun');
    const dir = join(work, 'targets');
    const byDefault = install([join(dir, 'a')]);
    expect(byDefault.status, byDefault.stderr).toBe(0);
    expect(runtimeOf(join(dir, 'a', 'cni'))).toBe('bun');
    expect(readlinkSync(join(dir, 'a', 'flannel'))).toBe('cni');
    const node = install([join(dir, 'b'), '--target', 'node', '--only', 'bridge']);
    expect(node.status, node.stderr).toBe(0);
    expect(runtimeOf(join(dir, 'b', 'cni'))).toBe('node');
    expect(readlinkSync(join(dir, 'b', 'bridge'))).toBe('cni');
    const bad = install([join(dir, 'c'), '--target', 'deno']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--target node|bun');
  });
});
