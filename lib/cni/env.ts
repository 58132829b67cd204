/**
 * The CNI environment: which variables each command needs and how each is
 * validated, with the reference's (containernetworking/cni pkg/skel, pkg/utils)
 * codes and messages.
 */
import { CniCode, CniError } from './errors.ts';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

export function isCommand(s: string): s is Command {
  return (COMMANDS as readonly string[]).includes(s);
}

type Validator = (value: string) => void;

interface EnvVar {
  name: string;
  requiredFor: readonly string[];
  validate?: Validator;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(CniCode.UnknownContainer, 'missing containerID');
  if (!NAME_RE.test(id)) throw new CniError(CniCode.InvalidEnvironmentVariables, 'invalid characters in containerID', id);
}

/**
 * '/', ':' or a character Go's unicode.IsSpace accepts. JavaScript's \s differs:
 * it lacks U+0085 (NEL) and includes U+FEFF, which Go does not count as space.
 */
const GO_SPACE_OR_SEPARATOR = /[/:\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

export function validateInterfaceName(name: string): void {
  if (name === '') throw new CniError(CniCode.InvalidEnvironmentVariables, 'interface name is empty');
  if (Buffer.byteLength(name) > 15) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, 'interface name is too long', 'interface name should be less than 16 characters');
  }
  if (name === '.' || name === '..') throw new CniError(CniCode.InvalidEnvironmentVariables, 'interface name is . or ..');
  if (GO_SPACE_OR_SEPARATOR.test(name)) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, 'interface name contains / or : or whitespace characters');
  }
}

export function validateNetworkName(name: string): void {
  if (!NAME_RE.test(name)) throw new CniError(CniCode.InvalidNetworkConfig, 'invalid characters found in network name', name);
}

/** The table, in the reference's order (the order of names in the "missing" message). */
export const ENV_TABLE: readonly EnvVar[] = [
  { name: 'CNI_COMMAND', requiredFor: COMMANDS },
  { name: 'CNI_CONTAINERID', requiredFor: ['ADD', 'CHECK', 'DEL'], validate: validateContainerId },
  { name: 'CNI_NETNS', requiredFor: ['ADD', 'CHECK'] },
  { name: 'CNI_IFNAME', requiredFor: ['ADD', 'CHECK', 'DEL'], validate: validateInterfaceName },
  { name: 'CNI_ARGS', requiredFor: [] },
  { name: 'CNI_PATH', requiredFor: ['ADD', 'CHECK', 'DEL', 'GC', 'STATUS'] },
  { name: 'CNI_NETNS_OVERRIDE', requiredFor: [] },
];

export interface CniEnv {
  command: string;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  path: string;
  netnsOverride: string;
}

export type EnvLike = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the environment for `command`. Every missing variable is
 * named in one code-4 error; a present variable that fails validation throws
 * its own error first, as the reference does.
 */
export function readCniEnv(env: EnvLike): CniEnv {
  const command = env['CNI_COMMAND'] ?? '';
  const missing: string[] = [];
  for (const v of ENV_TABLE) {
    const value = env[v.name] ?? '';
    const required = v.requiredFor.includes(command) || v.name === 'CNI_COMMAND';
    if (value === '') {
      if (required) missing.push(v.name);
    } else if (required && v.validate !== undefined) {
      v.validate(value);
    }
  }
  if (missing.length > 0) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, `required env variables [${missing.join(',')}] missing`);
  }
  return {
    command,
    containerId: env['CNI_CONTAINERID'] ?? '',
    netns: env['CNI_NETNS'] ?? '',
    ifName: env['CNI_IFNAME'] ?? '',
    args: env['CNI_ARGS'] ?? '',
    path: env['CNI_PATH'] ?? '',
    netnsOverride: env['CNI_NETNS_OVERRIDE'] ?? '',
  };
}

/** CNI_PATH is ':'-separated on Linux; empty entries are dropped. */
export function splitCniPath(path: string): string[] {
  return path.split(':').filter((p) => p !== '');
}
