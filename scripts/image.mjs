#!/usr/bin/env node
// npm run image [-- --ref NAME:TAG] [--out FILE] [--target node|bun | --exe FILE]
//
// An OCI image of the executable, built offline and without a base image:
// one layer (a tar written here, gzip-compressed) holding
//   /opt/cni/bin/cni          the executable of the default build target (scripts/targets.mjs: dist/bun/cni),
//                             or --target's, or the file --exe names
//   /opt/cni/bin/<plugin>     a link to it for every plugin of cmd/registry.ts
//   /lib..., /lib64/...       the shared libraries the executable needs (ldd), from this machine
//   /tmp (1777), /etc/passwd
// its config (entrypoint `cni install`, kube-flannel's host mounts as the default arguments), the manifest,
// the index and the OCI layout, all in one tar: dist/image/cni-ts-<version>.oci.tar, which
// `ctr image import` and `podman load` take. Every byte is reproducible (fixed mtimes, sorted entries).
//
// The default command installs the node the way kube-flannel's two init containers do:
//   cni install --dest /host/opt/cni/bin --conflist /etc/kube-flannel/cni-conf.json --conf-dir /host/etc/cni/net.d
// (give other arguments to install only the plugins: `--dest /host/opt/cni/bin`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DEFAULT_TARGET, TARGETS } from './targets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { PLUGIN_NAMES } = await import('../cmd/registry.ts');

/** Where the executable goes in the image, and the host mounts its default command writes to. */
export const IMAGE_BIN = '/opt/cni/bin';
export const DEFAULT_CMD = ['--dest', '/host/opt/cni/bin', '--conflist', '/etc/kube-flannel/cni-conf.json', '--conf-dir', '/host/etc/cni/net.d'];

// ---- a minimal ustar writer (regular files, directories, symlinks) ----

function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name, { type, size = 0, mode, linkname = '' }) {
  const h = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (cut <= 0 || Buffer.byteLength(name) > 100) throw new Error(`path too long for ustar: ${prefix}/${name}`);
  }
  h.write(name, 0, 100);
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108); // uid
  h.write(octal(0, 8), 116); // gid
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136); // mtime: fixed, for a reproducible digest
  h.fill(' ', 148, 156); // checksum placeholder
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write('root', 265);
  h.write('root', 297);
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** entries: { path (no leading slash), type: 'dir'|'file'|'symlink', mode, data?, target? } → tar bytes. */
export function tar(entries) {
  const parts = [];
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (e.type === 'dir') parts.push(header(`${e.path}/`, { type: '5', mode: e.mode }));
    else if (e.type === 'symlink') parts.push(header(e.path, { type: '2', mode: 0o777, linkname: e.target }));
    else {
      parts.push(header(e.path, { type: '0', mode: e.mode, size: e.data.length }), e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---- the image ----

const sha256 = (buf) => `sha256:${createHash('sha256').update(buf).digest('hex')}`;

/** The shared libraries (and the dynamic loader) `exe` needs, as ldd resolves them on this machine. */
function sharedLibraries(exe) {
  const out = execFileSync('ldd', [exe], { encoding: 'utf8' });
  const libs = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  if (!libs.some((l) => l.includes('ld-linux'))) throw new Error(`ldd ${exe}: no dynamic loader in ${out}`);
  return libs;
}

/** Adds `path`'s missing parent directories to `entries`. */
function withParents(entries) {
  const dirs = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.path));
  const out = [...entries];
  for (const e of entries) {
    for (let p = dirname(e.path); p !== '.' && p !== '/' && !dirs.has(p); p = dirname(p)) {
      dirs.add(p);
      out.push({ path: p, type: 'dir', mode: 0o755 });
    }
  }
  return out;
}

export function buildImage({ exe = join(root, 'dist', TARGETS[DEFAULT_TARGET], 'cni'), ref = `localhost/cni-ts:${pkg.version}`, out = join(root, 'dist', 'image', `cni-ts-${pkg.version}.oci.tar`) } = {}) {
  if (!existsSync(exe)) throw new Error(`${exe} is missing: run npm run build first`);
  const bin = IMAGE_BIN.slice(1);
  const entries = [
    { path: `${bin}/cni`, type: 'file', mode: 0o755, data: readFileSync(exe) },
    ...PLUGIN_NAMES.map((n) => ({ path: `${bin}/${n}`, type: 'symlink', target: 'cni' })),
    ...sharedLibraries(exe).map((l) => ({ path: l.slice(1), type: 'file', mode: 0o755, data: readFileSync(realpathSync(l)) })),
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'etc/passwd', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:0:root:/:/nonexistent\n') },
    { path: 'etc/group', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:\n') },
    ...['proc', 'sys', 'dev', 'host'].map((d) => ({ path: d, type: 'dir', mode: 0o755 })),
  ];
  const layerTar = tar(withParents(entries));
  const layerGz = gzipSync(layerTar, { level: 6 });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: [`PATH=${IMAGE_BIN}`],
        Entrypoint: [`${IMAGE_BIN}/cni`, 'install'],
        Cmd: DEFAULT_CMD,
        WorkingDir: '/',
        Labels: { 'org.opencontainers.image.title': 'cni-ts', 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.description': pkg.description },
      },
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
      history: [{ created_by: 'npm run image (scripts/image.mjs)' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layerGz), size: layerGz.length }],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(manifest),
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          // containerd reads the first, podman the second
          annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref },
        },
      ],
    }),
  );
  const blob = (buf) => ({ path: `blobs/sha256/${sha256(buf).slice('sha256:'.length)}`, type: 'file', mode: 0o644, data: buf });
  const layout = tar(
    withParents([
      { path: 'oci-layout', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
      { path: 'index.json', type: 'file', mode: 0o644, data: index },
      blob(layerGz),
      blob(config),
      blob(manifest),
    ]),
  );
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, layout);
  renameSync(tmp, out);
  return { out, ref, size: layout.length, layerSize: layerGz.length, unpacked: layerTar.length, manifestDigest: sha256(manifest) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const target = opt('--target');
  if (target !== undefined && !Object.hasOwn(TARGETS, target)) {
    process.stderr.write(`usage: npm run image -- [--ref NAME:TAG] [--out FILE] [--target ${Object.keys(TARGETS).join('|')} | --exe FILE]\n`);
    process.exit(2);
  }
  const exe = opt('--exe') ?? (target !== undefined ? join(root, 'dist', TARGETS[target], 'cni') : undefined);
  const r = buildImage({ ...(opt('--ref') ? { ref: opt('--ref') } : {}), ...(opt('--out') ? { out: opt('--out') } : {}), ...(exe ? { exe } : {}) });
  const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  process.stdout.write(`image: ${r.out}\n  ref ${r.ref}, manifest ${r.manifestDigest}\n  ${mib(r.size)} as an archive (layer ${mib(r.layerSize)} gzip), ${mib(r.unpacked)} unpacked\n  load: ctr image import ${r.out}   |   podman load -i ${r.out}\n`);
}
