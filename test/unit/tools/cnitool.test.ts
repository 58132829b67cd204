import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerIdFor, parseCapArgs, parseToolArgs, runTool, splitList, usage } from '../../../tools/cnitool/index.ts';

describe('container id', () => {
  it("is cnitool's: cnitool- + hex of the first 10 bytes of SHA-512 of the absolute path", () => {
    expect(containerIdFor('/var/run/netns/cnitest', '/')).toBe('cnitool-20c433bb2b1d6ede56d6');
    expect(containerIdFor('netns/cnitest', '/var/run')).toBe('cnitool-20c433bb2b1d6ede56d6');
    expect(containerIdFor('/run/netns/cnitest', '/')).not.toBe('cnitool-20c433bb2b1d6ede56d6');
  });
});

describe('environment parsing', () => {
  it('CNI_ARGS: every pair exactly k=v with both parts', () => {
    expect(parseToolArgs('A=1;B=2')).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
    expect(() => parseToolArgs('A=1;')).toThrow('invalid CNI_ARGS pair ""');
    expect(() => parseToolArgs('A=b=c')).toThrow('invalid CNI_ARGS pair "A=b=c"');
    expect(() => parseToolArgs('A=')).toThrow('invalid CNI_ARGS pair "A="');
  });

  it('CAP_ARGS is a JSON object', () => {
    expect(parseCapArgs('{"portMappings":[]}')).toEqual({ portMappings: [] });
    expect(parseCapArgs('')).toBeUndefined();
    expect(() => parseCapArgs('[1]')).toThrow('cannot unmarshal array');
    expect(() => parseCapArgs('{')).toThrow();
  });

  it('CNI_PATH splits like filepath.SplitList', () => {
    expect(splitList('')).toEqual([]);
    expect(splitList(undefined)).toEqual([]);
    expect(splitList('/a:/b')).toEqual(['/a', '/b']);
  });
});

describe('runTool', () => {
  const io = (env: Record<string, string>) => {
    const out = { stdout: '', stderr: '' };
    return {
      out,
      io: { env, cwd: '/', stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t) },
    };
  };

  it('usage on stderr and exit 1 for missing arguments or an unknown verb', async () => {
    for (const argv of [[], ['add', 'net'], ['frob', 'net', '/x']]) {
      const t = io({});
      expect(await runTool(argv, t.io)).toBe(1);
      expect(t.out.stderr).toBe(usage('cni tool'));
    }
  });

  it('errors are one line on stderr with exit 1: missing network, bad CNI_ARGS, plugin not on CNI_PATH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnitool-'));
    try {
      let t = io({ NETCONFPATH: dir });
      expect(await runTool(['add', 'net', '/run/netns/x'], t.io)).toBe(1);
      expect(t.out.stderr).toBe(`no net configurations found in ${dir}\n`);
      writeFileSync(join(dir, '10.conflist'), JSON.stringify({ name: 'net', cniVersion: '1.0.0', plugins: [{ type: 'bridge' }] }));
      t = io({ NETCONFPATH: dir, CNI_ARGS: 'x' });
      expect(await runTool(['add', 'net', '/run/netns/x'], t.io)).toBe(1);
      expect(t.out.stderr).toBe('invalid CNI_ARGS pair "x"\n');
      t = io({ NETCONFPATH: dir, CNI_CACHE_DIR: dir });
      expect(await runTool(['add', 'net', '/run/netns/x'], t.io)).toBe(1);
      expect(t.out.stderr).toBe('plugin type="bridge" failed (add): no paths provided\n');
      expect(t.out.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
