import { describe, expect, it } from 'vitest';
import { CniCode, CniError } from '../../../lib/cni/errors.ts';
import { type CmdArgs, type Plugin, type PluginIO, prettyJson, runPlugin, versionJson } from '../../../lib/cni/skel.ts';
import { SUPPORTED_VERSIONS } from '../../../lib/cni/version.ts';
import type { Result } from '../../../lib/cni/types/current.ts';
import { resultToVersion } from '../../../lib/cni/types/convert.ts';

type Call = { command: string; args: CmdArgs };

interface FakeOptions {
  supportedVersions?: readonly string[];
  about?: string;
  result?: Result;
  /** Thrown (or rejected) by every handler. */
  fail?: unknown;
}

function fakePlugin(opts: FakeOptions = {}): { plugin: Plugin; calls: Call[] } {
  const calls: Call[] = [];
  const handle = (command: string) => async (args: CmdArgs) => {
    calls.push({ command, args });
    await Promise.resolve();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- handlers may throw anything; the boundary must cope
    if (opts.fail !== undefined) throw opts.fail;
  };
  const plugin: Plugin = {
    name: 'fake',
    about: opts.about ?? 'CNI plugin fake v0.0.1',
    supportedVersions: opts.supportedVersions ?? SUPPORTED_VERSIONS,
    add: async (args) => {
      await handle('ADD')(args);
      return opts.result ?? RESULT;
    },
    del: handle('DEL'),
    check: handle('CHECK'),
    gc: handle('GC'),
    status: handle('STATUS'),
  };
  return { plugin, calls };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  calls: Call[];
  stdinReads: number;
}

async function run(env: Record<string, string | undefined>, stdin: string | Buffer | Error = CONF('1.1.0'), opts: FakeOptions = {}): Promise<Run> {
  const { plugin, calls } = fakePlugin(opts);
  let stdout = '';
  let stderr = '';
  let stdinReads = 0;
  const io: PluginIO = {
    env,
    readStdin: () => {
      stdinReads++;
      if (stdin instanceof Error) return Promise.reject(stdin);
      return Promise.resolve(Buffer.isBuffer(stdin) ? stdin : Buffer.from(stdin));
    },
    writeStdout: (t) => {
      stdout += t;
    },
    writeStderr: (t) => {
      stderr += t;
    },
  };
  const code = await runPlugin(plugin, io);
  return { code, stdout, stderr, calls, stdinReads };
}

/** What a plugin prints for an error: exactly the reference's format. */
function errorText(code: number, msg: string, details?: string): string {
  const lines = [`{`, `    "code": ${code},`, `    "msg": ${JSON.stringify(msg)}${details === undefined ? '' : ','}`];
  if (details !== undefined) lines.push(`    "details": ${JSON.stringify(details)}`);
  lines.push('}');
  return lines.join('\n');
}

function CONF(cniVersion: string | undefined, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...(cniVersion === undefined ? {} : { cniVersion }), name: 'testnet', type: 'fake', ...extra });
}

const NO_NETNS = '/var/run/netns/cni-ts-unit-test-does-not-exist';

function env(command: string | undefined, over: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...(command === undefined ? {} : { CNI_COMMAND: command }),
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: NO_NETNS,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    ...over,
  };
}

const RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: NO_NETNS, mtu: 1450 }],
  ips: [
    { interface: 0, address: '10.1.0.5/16', gateway: '10.1.0.1' },
    { interface: 0, address: 'fd00::5/64', gateway: 'fd00::1' },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
};

const GO_SUPPORTED = '["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]';

describe('environment (code 4)', () => {
  it.each([
    ['ADD', '[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]'],
    ['CHECK', '[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]'],
    ['DEL', '[CNI_CONTAINERID,CNI_IFNAME,CNI_PATH]'],
    ['GC', '[CNI_PATH]'],
    ['STATUS', '[CNI_PATH]'],
  ])('%s names every missing variable, in the reference order', async (command, names) => {
    const r = await run({ CNI_COMMAND: command });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(4, `required env variables ${names} missing`));
    expect(r.calls).toEqual([]);
  });

  it('counts an empty value as missing', async () => {
    const r = await run(env('ADD', { CNI_NETNS: '', CNI_PATH: '' }));
    expect(r.stdout).toBe(errorText(4, 'required env variables [CNI_NETNS,CNI_PATH] missing'));
  });

  it('does not need CNI_NETNS for DEL', async () => {
    const r = await run(env('DEL', { CNI_NETNS: undefined }));
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.command)).toEqual(['DEL']);
    expect(r.calls[0]?.args.netns).toBe('');
  });

  it.each([
    ['a b', 'a b'],
    ['-leading-dash', '-leading-dash'],
    ['semi;colon', 'semi;colon'],
    ['ünicode', 'ünicode'],
  ])('rejects container id %j', async (id, details) => {
    const r = await run(env('ADD', { CNI_CONTAINERID: id }));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(4, 'invalid characters in containerID', details));
  });

  it.each([
    ['0123456789abcdef', 'interface name is too long', 'interface name should be less than 16 characters'],
    ['ääääääää', 'interface name is too long', 'interface name should be less than 16 characters'],
    ['.', 'interface name is . or ..', undefined],
    ['..', 'interface name is . or ..', undefined],
    ['eth/0', 'interface name contains / or : or whitespace characters', undefined],
    ['eth:0', 'interface name contains / or : or whitespace characters', undefined],
    ['eth 0', 'interface name contains / or : or whitespace characters', undefined],
    ['eth\t0', 'interface name contains / or : or whitespace characters', undefined],
  ])('rejects interface name %j', async (name, msg, details) => {
    for (const command of ['ADD', 'DEL', 'CHECK']) {
      const r = await run(env(command, { CNI_IFNAME: name }));
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(errorText(4, msg, details));
    }
  });

  it('validates CNI_CONTAINERID and CNI_IFNAME only for the commands that need them', async () => {
    const r = await run(env('GC', { CNI_CONTAINERID: 'bad id', CNI_IFNAME: 'bad/name' }));
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.command)).toEqual(['GC']);
  });

  it('rejects an unknown CNI_COMMAND after reading the config', async () => {
    const r = await run(env('FROB'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(4, 'unknown CNI_COMMAND: FROB'));
    expect(r.calls).toEqual([]);
    expect(r.stdinReads).toBe(1);
  });

  it('a lower-case command is unknown too', async () => {
    const r = await run(env('add'));
    expect(r.stdout).toBe(errorText(4, 'unknown CNI_COMMAND: add'));
  });
});

describe('no CNI_COMMAND', () => {
  it.each([undefined, ''])('prints the about text and the versions to stderr and exits 0 (CNI_COMMAND=%j)', async (command) => {
    const r = await run({ ...(command === undefined ? {} : { CNI_COMMAND: command }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('CNI plugin fake v0.0.1\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n');
    expect(r.stdinReads).toBe(0);
  });

  it('without an about text it is the plain code-4 error, as in the reference', async () => {
    const r = await run({}, CONF('1.1.0'), { about: '' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(4, 'required env variables [CNI_COMMAND] missing'));
    expect(r.stderr).toBe('');
  });
});

describe('stdin and config', () => {
  it('a failure to read stdin is code 5', async () => {
    const r = await run(env('ADD'), new Error('EIO: i/o error, read'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(5, 'error reading from stdin: EIO: i/o error, read'));
  });

  it.each([
    ['not JSON', '{"name": '],
    ['empty', ''],
    ['an array', '[]'],
    ['a string', '"testnet"'],
    ['a numeric name', '{"name": 5}'],
    ['a numeric cniVersion', '{"name": "n", "cniVersion": 1.0}'],
  ])('%s is code 6', async (_what, stdin) => {
    const r = await run(env('ADD'), stdin);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { code: number; msg: string };
    expect(out.code).toBe(6);
    expect(out.msg).toMatch(/^(error unmarshall network config: |decoding version from network config: )/);
    expect(r.calls).toEqual([]);
  });

  it.each([
    ['no name', '{"cniVersion": "1.0.0"}'],
    ['an empty name', '{"name": ""}'],
    ['a null name', '{"name": null}'],
  ])('%s is code 7 "missing network name"', async (_what, stdin) => {
    const r = await run(env('DEL'), stdin);
    expect(r.stdout).toBe(errorText(7, 'missing network name'));
  });

  it('a name with invalid characters is code 7 with the name as details', async () => {
    const r = await run(env('ADD'), '{"name": "my net"}');
    expect(r.stdout).toBe(errorText(7, 'invalid characters found in network name', 'my net'));
  });

  it('hands the handler the config (unknown keys kept) and the raw stdin', async () => {
    const stdin = CONF('1.0.0', { bridge: 'cni0', Extra: { a: [1] } });
    const r = await run(env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p' }), stdin);
    expect(r.code).toBe(0);
    const args = r.calls[0]?.args;
    expect(args?.command).toBe('ADD');
    expect(args?.containerId).toBe('c0ffee');
    expect(args?.netns).toBe(NO_NETNS);
    expect(args?.ifName).toBe('eth0');
    expect(args?.args).toBe('IgnoreUnknown=1;K8S_POD_NAME=p');
    expect(args?.path).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    expect(args?.stdinData.toString()).toBe(stdin);
    expect(args?.conf).toEqual({ cniVersion: '1.0.0', name: 'testnet', type: 'fake', bridge: 'cni0', Extra: { a: [1] } });
  });

  it('a config without cniVersion is 0.1.0', async () => {
    const r = await run(env('ADD'), CONF(undefined));
    expect(r.calls[0]?.args.conf.cniVersion).toBe('0.1.0');
    expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '0.1.0', ip4: { ip: '10.1.0.5/16' } });
  });
});

describe('versions (code 1)', () => {
  it.each(['ADD', 'DEL'])('%s with a version the plugin does not support', async (command) => {
    const r = await run(env(command), CONF('9.9.9'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(1, 'incompatible CNI versions', `config is "9.9.9", plugin supports ${GO_SUPPORTED}`));
    expect(r.calls).toEqual([]);
  });

  it('lists the versions this plugin supports', async () => {
    const r = await run(env('ADD'), CONF('1.1.0'), { supportedVersions: ['0.3.1', '0.4.0'] });
    expect(r.stdout).toBe(errorText(1, 'incompatible CNI versions', 'config is "1.1.0", plugin supports ["0.3.1" "0.4.0"]'));
  });

  it.each([
    ['CHECK', '0.3.1'],
    ['CHECK', undefined],
    ['GC', '1.0.0'],
    ['GC', '0.4.0'],
    ['STATUS', '1.0.0'],
    ['STATUS', '0.2.0'],
  ])('%s with cniVersion %s is "config version does not allow"', async (command, version) => {
    const r = await run(env(command), CONF(version));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(1, `config version does not allow ${command}`));
    expect(r.calls).toEqual([]);
  });

  it.each([
    ['CHECK', '0.4.0'],
    ['CHECK', '1.0.0'],
    ['GC', '1.1.0'],
    ['STATUS', '1.1.0'],
  ])('%s with cniVersion %s runs', async (command, version) => {
    const r = await run(env(command), CONF(version));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.calls.map((c) => c.command)).toEqual([command]);
  });

  it('CHECK with a newer version than any the plugin has is "plugin version does not allow CHECK"', async () => {
    const r = await run(env('CHECK'), CONF('9.9.9'));
    expect(r.stdout).toBe(errorText(1, 'plugin version does not allow CHECK'));
  });

  it('CHECK with an unparsable version is code 6', async () => {
    const r = await run(env('CHECK'), CONF('one'));
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 6 });
  });
});

describe('VERSION', () => {
  it('prints the reference JSON with a newline and ignores stdin', async () => {
    const r = await run({ CNI_COMMAND: 'VERSION' }, new Error('must not be read'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
    expect(r.stdinReads).toBe(0);
  });

  it("lists the plugin's own versions", async () => {
    const r = await run({ CNI_COMMAND: 'VERSION' }, '', { supportedVersions: ['0.4.0', '1.0.0'] });
    expect(r.stdout).toBe(versionJson(['0.4.0', '1.0.0']));
    expect(r.stdout).toBe('{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0"]}\n');
  });

  it('needs no other variable (libcni probes with dummies, runtimes with none)', async () => {
    const r = await run({ CNI_COMMAND: 'VERSION', CNI_IFNAME: 'bad/name', CNI_CONTAINERID: 'bad id' });
    expect(r.code).toBe(0);
  });
});

describe('ADD output', () => {
  it.each(SUPPORTED_VERSIONS)('prints the result converted to %s, 4-space indented, no trailing newline', async (v) => {
    const r = await run(env('ADD'), CONF(v));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(JSON.stringify(resultToVersion(RESULT, v), null, 4));
    expect(r.stdout.endsWith('\n')).toBe(false);
    expect((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion).toBe(v);
  });

  it('prints exactly the reference text for 0.4.0', async () => {
    const r = await run(env('ADD'), CONF('0.4.0'));
    expect(r.stdout).toBe(
      [
        '{',
        '    "cniVersion": "0.4.0",',
        '    "interfaces": [',
        '        {',
        '            "name": "eth0",',
        '            "mac": "0a:58:0a:01:00:05",',
        `            "sandbox": "${NO_NETNS}"`,
        '        }',
        '    ],',
        '    "ips": [',
        '        {',
        '            "version": "4",',
        '            "interface": 0,',
        '            "address": "10.1.0.5/16",',
        '            "gateway": "10.1.0.1"',
        '        },',
        '        {',
        '            "version": "6",',
        '            "interface": 0,',
        '            "address": "fd00::5/64",',
        '            "gateway": "fd00::1"',
        '        }',
        '    ],',
        '    "routes": [',
        '        {',
        '            "dst": "0.0.0.0/0",',
        '            "gw": "10.1.0.1"',
        '        }',
        '    ],',
        '    "dns": {}',
        '}',
      ].join('\n'),
    );
  });

  it('a result 0.2.0 cannot express is code 999 (after ADD ran, as in the reference)', async () => {
    const r = await run(env('ADD'), CONF('0.2.0'), { result: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }] } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(999, 'cannot convert: no valid IP addresses'));
    expect(r.calls.map((c) => c.command)).toEqual(['ADD']);
  });

  it('DEL, CHECK, GC and STATUS print nothing on success', async () => {
    for (const command of ['DEL', 'CHECK', 'GC', 'STATUS']) {
      const r = await run(env(command), CONF('1.1.0'));
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
  });
});

describe('errors from handlers', () => {
  it('a plain Error is code 999; its stack goes to stderr', async () => {
    const err = new Error('kaboom');
    const r = await run(env('ADD'), CONF('1.0.0'), { fail: err });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(999, 'kaboom'));
    expect(r.stderr).toBe(`fake: ${err.stack}\n`);
    expect(r.stderr).toMatch(/^fake: Error: kaboom\n\s+at /);
  });

  it('a CniError with code 999 logs the stack of its cause', async () => {
    const cause = new Error('EACCES: permission denied');
    const r = await run(env('DEL'), CONF('1.0.0'), { fail: CniError.wrap('failed to release', cause) });
    expect(r.stdout).toBe(errorText(999, 'failed to release: EACCES: permission denied'));
    expect(r.stderr).toContain(cause.stack);
  });

  it('a thrown non-Error is code 999 too', async () => {
    const r = await run(env('DEL'), CONF('1.0.0'), { fail: 'just a string' });
    expect(r.stdout).toBe(errorText(999, 'just a string'));
  });

  it('a CniError passes through with its code; details only when non-empty; no stack', async () => {
    let r = await run(env('DEL'), CONF('1.0.0'), { fail: new CniError(CniCode.TryAgainLater, 'busy', 'lock held by pid 42') });
    expect(r.stdout).toBe(errorText(11, 'busy', 'lock held by pid 42'));
    expect(r.stderr).toBe('');
    r = await run(env('STATUS'), CONF('1.1.0'), { fail: new CniError(CniCode.PluginNotAvailable, 'no subnet.env') });
    expect(r.stdout).toBe(errorText(50, 'no subnet.env'));
    expect(r.stdout).not.toContain('details');
    expect(r.stdout).not.toContain('cniVersion');
  });

  it('prettyJson is the 4-space format of the reference', () => {
    expect(prettyJson(new CniError(4, 'm', 'd').toJSON())).toBe(errorText(4, 'm', 'd'));
  });
});

describe("CNI_NETNS is the plugin's own namespace (code 8)", () => {
  it.each(['ADD', 'DEL'])('%s refuses it before the handler runs', async (command) => {
    const r = await run(env(command, { CNI_NETNS: '/proc/self/ns/net' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(errorText(8, "plugin's netns and netns from CNI_NETNS should not be the same"));
    expect(r.calls).toEqual([]);
  });

  it.each(['1', 'true', 'TRUE', 'True'])('CNI_NETNS_OVERRIDE=%s allows it', async (override) => {
    const r = await run(env('ADD', { CNI_NETNS: '/proc/self/ns/net', CNI_NETNS_OVERRIDE: override }));
    expect(r.code).toBe(0);
    expect(r.calls.map((c) => c.command)).toEqual(['ADD']);
  });

  it('CNI_NETNS_OVERRIDE=0 does not', async () => {
    const r = await run(env('ADD', { CNI_NETNS: '/proc/self/ns/net', CNI_NETNS_OVERRIDE: '0' }));
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 8 });
  });

  it('CHECK is subject to it too (the reference checks ADD and DEL only: CHECK would report on the node as a pod)', async () => {
    const r = await run(env('CHECK', { CNI_NETNS: '/proc/self/ns/net' }));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 8 });
    expect(r.calls).toHaveLength(0);
  });
});

describe('issue 9 at the boundary', () => {
  const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/none', CNI_PATH: '/opt/cni/bin' };
  const conf = (extra: string): string => `{"cniVersion":"1.0.0","name":"n","type":"fake"${extra}}`;

  it('"type": 42 is code 6 before the plugin runs', async () => {
    const r = await run(add, conf('').replace('"fake"', '42'));
    expect(r.calls).toHaveLength(0);
    expect(JSON.parse(r.stdout)).toEqual({ code: 6, msg: 'error unmarshall network config: "type" must be a string, got 42' });
  });

  it('JSON past depth 10000 is code 6, without parsing it or a stack', async () => {
    const r = await run(add, conf(`,"prevResult":${'['.repeat(100_000)}${']'.repeat(100_000)}`));
    expect(r.calls).toHaveLength(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 6, msg: 'error unmarshall network config: exceeded max depth' });
    expect(r.stderr).toBe('');
    // 10 000 levels in all, the config object included, as Go counts
    const ok = await run(add, conf(`,"x":${'['.repeat(9_999)}${']'.repeat(9_999)}`));
    expect(ok.code).toBe(0);
  });

  it('a stack only for a bug: a TypeError has one; a CniError, an errno or a wrapped known error has none', async () => {
    const bug = await run(add, conf(''), { fail: new TypeError('x is undefined') });
    expect(bug.stderr).toMatch(/^fake: TypeError: x is undefined\n\s+at /);
    const wrappedBug = await run(add, conf(''), { fail: CniError.wrap('failed to delegate add', new RangeError('boom')) });
    expect(wrappedBug.stderr).toMatch(/RangeError: boom/);
    for (const fail of [
      new CniError(CniCode.Internal, 'deliberate'),
      Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY', syscall: 'rmdir', path: '/x' }),
      CniError.wrap('failed', new CniError(CniCode.Internal, 'inner')),
      new (class NetlinkError extends Error {})('kernel said no'),
    ]) {
      const r = await run(add, conf(''), { fail });
      expect(r.code).toBe(1);
      expect(r.stderr, String(fail)).toBe('');
    }
  });

  it('an fs error is code 5 naming the path, worded like Go', async () => {
    const r = await run(add, conf(''), { fail: Object.assign(new Error("EISDIR: illegal operation on a directory, open '/d/lock'"), { code: 'EISDIR', syscall: 'open', path: '/d/lock' }) });
    expect(JSON.parse(r.stdout)).toEqual({ code: 5, msg: 'open /d/lock: is a directory' });
    expect(r.stderr).toBe('');
  });
});
