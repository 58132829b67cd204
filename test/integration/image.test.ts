/**
 * The OCI image of `npm run image` installs a node as kube-flannel's init
 * containers would: imported into the private containerd of the runtime suites
 * (test/helpers/runtimes.ts) and run with its default command, with temp dirs
 * mounted as /host/opt/cni/bin and /host/etc/cni/net.d and a conflist as
 * /etc/kube-flannel/cni-conf.json (the ConfigMap's path). Then: a second run
 * changes nothing; a run over an older executable replaces it while a loop of
 * VERSION calls through a plugin link never fails. podman loads the same file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLUGIN_NAMES } from '../../cmd/registry.ts';
import { BIN_DIR, ROOT } from '../helpers/exec.ts';
import { PrivateContainerd, PrivatePodman, RuntimeNode, hostSnapshot } from '../helpers/runtimes.ts';

const EXE = join(BIN_DIR, 'cni');
const CONFLIST = join(ROOT, 'conf-examples', 'flannel-kube-1.0.0.conflist');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const REF = `localhost/cni-ts:${pkg.version}`;

const work = mkdtempSync(join(tmpdir(), 'dp-image-'));
const imageTar = join(work, 'image.oci.tar');
let ctrd: PrivateContainerd;
let before: Record<string, string>;
let seq = 0;

beforeAll(async () => {
  before = hostSnapshot();
  // the image of the build target under test (npm run image alone takes the default one)
  const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'image.mjs'), '--out', imageTar, '--exe', EXE], { encoding: 'utf8', timeout: 300_000 });
  if (b.status !== 0) throw new Error(`npm run image failed: ${b.stderr}${b.stdout}`);
  ctrd = new PrivateContainerd();
  await ctrd.start();
}, 600_000);

afterAll(async () => {
  try {
    await ctrd?.stop();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  expect(hostSnapshot()).toEqual(before);
});

/** The node's two host dirs and the kube-flannel ConfigMap file. */
function hostDirs(name: string): { bin: string; net: string; conf: string } {
  const d = join(work, name);
  const dirs = { bin: join(d, 'opt', 'cni', 'bin'), net: join(d, 'etc', 'cni', 'net.d'), conf: join(d, 'cni-conf.json') };
  mkdirSync(dirs.bin, { recursive: true });
  mkdirSync(dirs.net, { recursive: true });
  copyFileSync(CONFLIST, dirs.conf);
  return dirs;
}

/** `ctr run --rm` of the image with its default command and the mounts of kube-flannel's DaemonSet. */
function runImage(d: { bin: string; net: string; conf: string }): { code: number; stdout: string; stderr: string } {
  const mount = (src: string, dst: string, mode: 'rw' | 'ro'): string[] => ['--mount', `type=bind,src=${src},dst=${dst},options=rbind:${mode}`];
  return ctrd.ctr(['run', '--rm', ...mount(d.bin, '/host/opt/cni/bin', 'rw'), ...mount(d.net, '/host/etc/cni/net.d', 'rw'), ...mount(d.conf, '/etc/kube-flannel/cni-conf.json', 'ro'), REF, `dp-install-${process.pid}-${++seq}`], undefined, 120_000);
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const st = lstatSync(join(dir, n), { bigint: true });
    out[n] = `${st.ino} ${st.mtimeNs} ${st.isSymbolicLink() ? `-> ${readlinkSync(join(dir, n))}` : `${st.size}`}`;
  }
  return out;
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the image (npm run image) under containerd 1.6', () => {
  it('is one OCI archive ctr imports, with the executable and the default command cni install', () => {
    const size = statSync(imageTar).size;
    // the executable (~105 MiB) compresses to well under half; libc and friends add a few MiB
    expect(size).toBeGreaterThan(20 * 1024 * 1024);
    expect(size).toBeLessThan(80 * 1024 * 1024);
    const imp = ctrd.ctr(['image', 'import', imageTar]);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    expect(ctrd.ctr(['image', 'ls', '-q']).stdout.split('\n')).toContain(REF);
  });

  it("is what conf-examples/kube-flannel-ds.patch.yaml runs: the image's default command, the patch's mounts", () => {
    const blob = (digest: string): string => spawnSync('tar', ['-xOf', imageTar, `blobs/sha256/${digest.slice('sha256:'.length)}`], { encoding: 'utf8' }).stdout;
    const index = JSON.parse(spawnSync('tar', ['-xOf', imageTar, 'index.json'], { encoding: 'utf8' }).stdout) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(blob(index.manifests[0]!.digest)) as { config: { digest: string } };
    const config = JSON.parse(blob(manifest.config.digest)) as { config: { Entrypoint: string[]; Cmd: string[] } };
    expect(config.config.Entrypoint).toEqual(['/opt/cni/bin/cni', 'install']);
    expect(config.config.Cmd).toEqual(['--dest', '/host/opt/cni/bin', '--conflist', '/etc/kube-flannel/cni-conf.json', '--conf-dir', '/host/etc/cni/net.d']);
    const patch = readFileSync(join(ROOT, 'conf-examples', 'kube-flannel-ds.patch.yaml'), 'utf8').replace(/^\s*#.*$/gm, '');
    expect(patch).toContain(`image: ${REF}`);
    expect([...patch.matchAll(/- name: (\S+)\n\s+\$patch: delete/g)].map((m) => m[1])).toEqual(['install-cni-plugin', 'install-cni']);
    expect([...patch.matchAll(/- name: (\S+)\n\s+mountPath: (\S+)/g)].map((m) => `${m[1]} ${m[2]}`)).toEqual([
      // kube-flannel's volumes: hostPath /opt/cni/bin, hostPath /etc/cni/net.d, the kube-flannel-cfg ConfigMap (cni-conf.json)
      'cni-plugin /host/opt/cni/bin',
      'cni /host/etc/cni/net.d',
      'flannel-cfg /etc/kube-flannel/',
    ]);
  });

  it('installs the executable, a link per plugin and the conflist; a second run changes nothing', () => {
    const d = hostDirs('fresh');
    const r = runImage(d);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('/host/opt/cni/bin/cni installed');
    expect(r.stdout).toContain('/host/etc/cni/net.d/10-flannel.conflist installed');
    expect(readFileSync(join(d.bin, 'cni')).equals(readFileSync(EXE))).toBe(true);
    expect(readdirSync(d.bin).sort()).toEqual(['cni', ...PLUGIN_NAMES].sort());
    for (const p of PLUGIN_NAMES) expect(readlinkSync(join(d.bin, p))).toBe('cni');
    expect(readFileSync(join(d.net, '10-flannel.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));
    // what was installed runs on the host
    const v = spawnSync(join(d.bin, 'flannel'), [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ cniVersion: '1.1.0' });

    const snap = { bin: snapshot(d.bin), net: snapshot(d.net) };
    const again = runImage(d);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/ unchanged$/gm)).toHaveLength(PLUGIN_NAMES.length + 2);
    expect({ bin: snapshot(d.bin), net: snapshot(d.net) }).toEqual(snap);
  });

  it('replaces an older executable atomically while a loop of VERSION calls through a link never fails', async () => {
    const d = hostDirs('upgrade');
    // "older": our executable with other bytes at its end (the ELF loader and the SEA ignore them), linked
    const old = join(d.bin, 'cni');
    copyFileSync(EXE, old);
    appendFileSync(old, Buffer.alloc(4096, 0x2a));
    for (const p of PLUGIN_NAMES) spawnSync('ln', ['-s', 'cni', join(d.bin, p)]);
    const oldIno = statSync(old).ino;
    const counts = join(d.bin, '..', 'loop-counts');
    const stop = join(d.bin, '..', 'loop-stop');
    const loop: ChildProcess = spawn(
      'sh',
      [
        '-c',
        'ok=0; fail=0; while [ ! -e "$1" ]; do out=$(CNI_COMMAND=VERSION "$2" 2>&1); case "$out" in *supportedVersions*) ok=$((ok+1)) ;; *) fail=$((fail+1)); echo "$out" >> "$3.err" ;; esac; echo "$ok $fail" > "$3"; done',
        'sh',
        stop,
        join(d.bin, 'bridge'),
        counts,
      ],
      { stdio: 'ignore' },
    );
    const read = (): [number, number] => {
      const t = existsSync(counts) ? readFileSync(counts, 'utf8').trim().split(' ') : [];
      return [Number(t[0] ?? 0), Number(t[1] ?? 0)];
    };
    try {
      await until('VERSION calls before the install', () => read()[0] >= 3);
      const r = runImage(d);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('/host/opt/cni/bin/cni replaced');
      const atInstall = read()[0];
      await until('VERSION calls after the install', () => read()[0] >= atInstall + 3);
    } finally {
      writeFileSync(stop, '');
      await until('the loop to end', () => loop.exitCode !== null || loop.signalCode !== null, 30_000);
    }
    const [ok, fail] = read();
    expect(existsSync(`${counts}.err`) ? readFileSync(`${counts}.err`, 'utf8') : '').toBe('');
    expect(fail).toBe(0);
    expect(ok).toBeGreaterThan(6);
    // a new inode (a rename, not a write into the running file), with the image's bytes; no .orig for our own file
    expect(statSync(old).ino).not.toBe(oldIno);
    expect(readFileSync(old).equals(readFileSync(EXE))).toBe(true);
    expect(readdirSync(d.bin).sort()).toEqual(['cni', ...PLUGIN_NAMES].sort());
  });
});

describe('the image under podman 4.3', () => {
  let node: RuntimeNode;
  let podman: PrivatePodman;

  beforeAll(() => {
    node = new RuntimeNode({ cniVersion: '1.0.0' });
    podman = new PrivatePodman(node);
  });

  afterAll(() => {
    try {
      podman?.cleanup();
    } finally {
      node?.cleanup();
    }
  });

  it('loads with podman load and installs the node with its default command', () => {
    const loaded = podman.must(['load', '-i', imageTar], 180_000);
    expect(loaded).toContain(REF);
    const d = hostDirs('podman');
    const r = podman.podman(['run', '--rm', '--network', 'none', '-v', `${d.bin}:/host/opt/cni/bin`, '-v', `${d.net}:/host/etc/cni/net.d`, '-v', `${d.conf}:/etc/kube-flannel/cni-conf.json:ro`, REF], 120_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(d.bin, 'cni')).equals(readFileSync(EXE))).toBe(true);
    expect(readdirSync(d.bin).sort()).toEqual(['cni', ...PLUGIN_NAMES].sort());
    expect(readFileSync(join(d.net, '10-flannel.conflist'), 'utf8')).toBe(readFileSync(CONFLIST, 'utf8'));
  });
});
