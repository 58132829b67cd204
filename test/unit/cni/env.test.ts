import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  ENV_TABLE,
  isCommand,
  readCniEnv,
  splitCniPath,
  validateContainerId,
  validateInterfaceName,
  validateNetworkName,
} from '../../../lib/cni/env.ts';
import { cniErrorOf } from '../../helpers/errors.ts';

const TOO_LONG = { code: 4, msg: 'interface name is too long', details: 'interface name should be less than 16 characters' };
const DOTS = { code: 4, msg: 'interface name is . or ..', details: '' };
const CHARS = { code: 4, msg: 'interface name contains / or : or whitespace characters', details: '' };

describe('validateInterfaceName', () => {
  it.each([
    ['eth0'],
    ['a'],
    ['123456789012345'], // 15 bytes: the kernel's IFNAMSIZ - 1
    ['äääääää'], // 7 × 2 bytes = 14
    ['€€€€€'], // 5 × 3 bytes = 15
    ['veth.1'],
    ['...'],
    ['.a'],
    ['eth-0_x'],
    ['\ufeff'], // U+FEFF is not a space for Go's unicode.IsSpace
  ])('accepts %j', (name) => {
    expect(() => validateInterfaceName(name)).not.toThrow();
  });

  it.each([
    ['', { code: 4, msg: 'interface name is empty', details: '' }],
    ['1234567890123456', TOO_LONG], // 16 bytes
    ['ääääääää', TOO_LONG], // 8 characters, 16 bytes: counted in bytes
    ['€€€€€a', TOO_LONG], // 6 characters, 16 bytes
    ['😀😀😀😀', TOO_LONG], // 4 characters, 16 bytes
    ['.', DOTS],
    ['..', DOTS],
    ['a/b', CHARS],
    ['/', CHARS],
    ['a:b', CHARS],
    [' eth0', CHARS],
    ['eth0 ', CHARS],
    ['e\tth', CHARS],
    ['e\nth', CHARS],
    ['e\rth', CHARS],
    ['e\vth', CHARS],
    ['e\fth', CHARS],
    ['e\u00a0th', CHARS], // no-break space
    ['e\u0085th', CHARS], // NEL: a space for Go
    ['e\u2003th', CHARS], // em space
    ['e\u3000th', CHARS], // ideographic space
  ])('rejects %j', (name, want) => {
    const e = cniErrorOf(() => validateInterfaceName(name));
    expect({ code: e.code, msg: e.msg, details: e.details }).toEqual(want);
  });

  it('checks the length before the characters', () => {
    expect(cniErrorOf(() => validateInterfaceName('a/b:c d/e:f g/h:i')).msg).toBe('interface name is too long');
  });
});

describe('validateContainerId and validateNetworkName', () => {
  it.each(['abc', 'A', '0', 'c0ffee_1.2-3', 'cnitool-77383ca0a0715733ca6f'])('accept %j', (id) => {
    expect(() => validateContainerId(id)).not.toThrow();
    expect(() => validateNetworkName(id)).not.toThrow();
  });

  it.each(['-abc', '_abc', '.abc', 'a b', 'a/b', 'a:b', 'ä', 'abc\n'])('reject %j', (id) => {
    const c = cniErrorOf(() => validateContainerId(id));
    expect({ code: c.code, msg: c.msg, details: c.details }).toEqual({ code: 4, msg: 'invalid characters in containerID', details: id });
    const n = cniErrorOf(() => validateNetworkName(id));
    expect({ code: n.code, msg: n.msg, details: n.details }).toEqual({ code: 7, msg: 'invalid characters found in network name', details: id });
  });

  it('an empty container id is code 3 "missing containerID" (the runtime-side check)', () => {
    const e = cniErrorOf(() => validateContainerId(''));
    expect([e.code, e.msg]).toEqual([3, 'missing containerID']);
  });
});

describe('readCniEnv', () => {
  const full = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/var/run/netns/x',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'A=1',
    CNI_PATH: '/opt/cni/bin',
    CNI_NETNS_OVERRIDE: '1',
  };

  it('reads every variable', () => {
    expect(readCniEnv(full)).toEqual({
      command: 'ADD',
      containerId: 'c1',
      netns: '/var/run/netns/x',
      ifName: 'eth0',
      args: 'A=1',
      path: '/opt/cni/bin',
      netnsOverride: '1',
    });
  });

  it('lists the table in the reference order', () => {
    expect(ENV_TABLE.map((v) => v.name)).toEqual(['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH', 'CNI_NETNS_OVERRIDE']);
  });

  it.each([
    [{}, '[CNI_COMMAND]'],
    [{ CNI_COMMAND: 'ADD' }, '[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]'],
    [{ CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0' }, '[CNI_CONTAINERID,CNI_PATH]'],
    [{ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c', CNI_PATH: '/p' }, '[CNI_NETNS,CNI_IFNAME]'],
    [{ CNI_COMMAND: 'GC' }, '[CNI_PATH]'],
    [{ CNI_COMMAND: 'STATUS', CNI_PATH: '' }, '[CNI_PATH]'],
  ])('names missing variables together: %j', (env, names) => {
    const e = cniErrorOf(() => readCniEnv(env));
    expect([e.code, e.msg]).toEqual([4, `required env variables ${names} missing`]);
  });

  it('VERSION and unknown commands need nothing else', () => {
    expect(readCniEnv({ CNI_COMMAND: 'VERSION' }).command).toBe('VERSION');
    expect(readCniEnv({ CNI_COMMAND: 'FROB' }).command).toBe('FROB');
  });

  it('a present but invalid value fails before the missing ones are reported', () => {
    const e = cniErrorOf(() => readCniEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad id' }));
    expect(e.msg).toBe('invalid characters in containerID');
  });

  it('does not validate variables the command does not need', () => {
    expect(readCniEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/p', CNI_IFNAME: 'a/b', CNI_CONTAINERID: '-x' }).ifName).toBe('a/b');
  });
});

describe('commands and CNI_PATH', () => {
  it('knows the six commands, case-sensitively', () => {
    expect(COMMANDS).toEqual(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION']);
    for (const c of COMMANDS) expect(isCommand(c)).toBe(true);
    for (const c of ['add', 'Add', '', 'UPDATE']) expect(isCommand(c)).toBe(false);
  });

  it.each([
    ['/opt/cni/bin', ['/opt/cni/bin']],
    ['/a:/b', ['/a', '/b']],
    ['/a::/b:', ['/a', '/b']],
    ['', []],
  ])('splits %j', (path, dirs) => {
    expect(splitCniPath(path)).toEqual(dirs);
  });
});
