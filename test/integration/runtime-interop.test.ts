/**
 * Our runtime side (`cni tool`) against libcni (a client built from Debian's
 * libcni 1.1.x sources) with a recording plugin: every plugin invocation gets
 * the same stdin and the same CNI variables from both, for ADD (two chained
 * plugins, capabilities, static runtimeConfig, HTML-escaped and nested keys) and
 * DEL (reverse order, the cached result as prevResult). The only difference
 * allowed is the key order inside prevResult: libcni 1.1.x marshals the 1.0.0
 * result struct in field order, libcni ≥ 1.2 (and we) through a map, sorted.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, runExe } from '../helpers/exec.ts';
import { buildLibcniClient } from '../helpers/libcni-client.ts';

let dir: string;
let client: string;

const RECORDER = `#!/bin/sh
n=$(ls "$REC_DIR" | wc -l)
f="$REC_DIR/$(printf %03d "$n")-$(basename "$0")-$CNI_COMMAND"
cat > "$f.stdin"
env | grep '^CNI_' | grep -v '^CNI_CACHE_DIR=' | sort > "$f.env"
if [ "$CNI_COMMAND" = ADD ]; then printf '%s' "$REC_RESULT"; fi
exit 0
`;

beforeAll(() => {
  client = buildLibcniClient();
  dir = mkdtempSync(join(tmpdir(), 'runtime-interop-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'net.d'));
  writeFileSync(join(dir, 'bin', 'rec'), RECORDER);
  chmodSync(join(dir, 'bin', 'rec'), 0o755);
  symlinkSync('rec', join(dir, 'bin', 'rec2'));
  writeFileSync(
    join(dir, 'net.d', '10-rec.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'recnet',
      plugins: [
        { type: 'rec', z: '<&>', capabilities: { portMappings: true, bandwidth: true, mac: false }, nested: { b: 1, a: [{ y: 1, x: 2 }] } },
        { type: 'rec2', runtimeConfig: { static: 1 }, capabilities: { ips: true } },
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function record(side: 'go' | 'ts'): Promise<Map<string, string>> {
  const recDir = join(dir, `rec-${side}`);
  mkdirSync(recDir);
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    NETCONFPATH: join(dir, 'net.d'),
    CNI_PATH: join(dir, 'bin'),
    CNI_CACHE_DIR: join(dir, `cache-${side}`),
    CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], mac: 'aa:bb:cc:dd:ee:ff', bandwidth: { ingressRate: 1 } }),
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a',
    REC_DIR: recDir,
    REC_RESULT: JSON.stringify({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/fake' }],
      ips: [{ address: '10.1.2.3/24', interface: 0, gateway: '10.1.2.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['1.1.1.1'] },
    }),
  };
  for (const verb of ['add', 'check', 'del']) {
    const r = side === 'go' ? await runExe(client, { args: [verb, 'recnet', '/run/netns/fake'], env }) : await runExe(binPath('cni'), { args: ['tool', verb, 'recnet', '/run/netns/fake'], env });
    expect(r.code, `${side} ${verb}: ${r.stderr}`).toBe(0);
  }
  return new Map(readdirSync(recDir).map((f) => [f, readFileSync(join(recDir, f), 'utf8')]));
}

describe('runtime side: ours and libcni give plugins the same input', () => {
  it('ADD, CHECK, DEL: same calls, order, variables and stdin', async () => {
    const go = await record('go');
    const ts = await record('ts');
    expect([...ts.keys()]).toEqual([...go.keys()]);
    expect([...go.keys()].filter((k) => k.endsWith('.stdin')).map((k) => k.slice(4, -6))).toEqual(['rec-ADD', 'rec2-ADD', 'rec-CHECK', 'rec2-CHECK', 'rec2-DEL', 'rec-DEL']);
    for (const [name, goText] of go) {
      const tsText = ts.get(name)!;
      const goJson = name.endsWith('.stdin') ? (JSON.parse(goText) as Record<string, unknown>) : undefined;
      if (goJson?.['prevResult'] === undefined) {
        expect(tsText, name).toBe(goText);
      } else {
        // same bytes apart from prevResult's key order (libcni 1.1.x: struct order; ≥ 1.2: sorted)
        expect(JSON.parse(tsText), name).toEqual(goJson);
        const strip = (t: string): string => t.replace(/"prevResult":\{.*\},"runtimeConfig"/, '"prevResult":{},"runtimeConfig"');
        expect(strip(tsText), name).toBe(strip(goText));
      }
    }
    const first = JSON.parse(go.get('000-rec-ADD.stdin')!) as Record<string, unknown>;
    expect(first['runtimeConfig']).toEqual({ bandwidth: { ingressRate: 1 }, portMappings: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }] });
    expect(go.get('000-rec-ADD.stdin')).toContain('"z":"\\u003c\\u0026\\u003e"');
  });
});
