/**
 * Network configuration loading as libcni does it (containernetworking/cni
 * libcni/conf.go, v1.3.0): files of a directory by exact extension in byte
 * order, the first `.conflist` whose name matches, else the first `.conf` /
 * `.json` wrapped as a one-plugin list, `<dir>/<name>/*.conf` plugins appended,
 * `cniVersions` choosing the highest version libcni knows. Error texts are libcni's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { isObject, type JsonObject } from '../cni/conf.ts';
import { CURRENT_VERSION, parseVersion } from '../cni/version.ts';
import { errnoCode } from '../cni/errors.ts';
import { goMapValue, goMarshal } from './gojson.ts';

/** One plugin object of a list: its own bytes (what gets injected into) and the keys libcni reads. */
export interface PluginConfig {
  readonly type: string;
  readonly name: string;
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly raw: JsonObject;
  readonly bytes: Buffer;
}

export interface NetworkConfigList {
  readonly name: string;
  /** The version the list runs at ('' when a .conf had none: libcni then treats it as 0.1.0). */
  readonly cniVersion: string;
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  readonly loadOnlyInlinedPlugins: boolean;
  readonly plugins: readonly PluginConfig[];
  /** The file's bytes (or, for a wrapped .conf, the synthesised list): what the cache stores as `config`. */
  readonly bytes: Buffer;
}

export class NotFoundError extends Error {
  constructor(
    readonly dir: string,
    readonly network: string,
  ) {
    super(`no net configuration with name "${network}" in ${dir}`);
  }
}

export class NoConfigsFoundError extends Error {
  constructor(readonly dir: string) {
    super(`no net configurations found in ${dir}`);
  }
}

/** Go's %T for a JSON-decoded value. */
function goType(v: unknown): string {
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    default:
      return 'map[string]interface {}';
  }
}

function parseJson(bytes: Buffer | string, prefix: string): unknown {
  try {
    return JSON.parse(bytes.toString()) as unknown;
  } catch (e) {
    throw new Error(`${prefix}: ${(e as Error).message}`, { cause: e });
  }
}

/** libcni's version.GreaterThan: a > b; '' counts as 0.1.0. */
export function versionGreater(a: string, b: string): boolean {
  const pa = parseVersion(a === '' ? '0.1.0' : a);
  const pb = parseVersion(b === '' ? '0.1.0' : b);
  if (pa === undefined) throw new Error(`unable to parse version "${a}"`);
  if (pb === undefined) throw new Error(`unable to parse version "${b}"`);
  for (let i = 0; i < 3; i++) if (pa[i]! !== pb[i]!) return pa[i]! > pb[i]!;
  return false;
}

/** a >= b, with '' as 0.1.0. */
export function versionAtLeast(a: string, b: string): boolean {
  return !versionGreater(b, a);
}

/** `NetworkPluginConfFromBytes`: one plugin object; needs a non-empty `type`. */
export function pluginConfFromBytes(bytes: Buffer): PluginConfig {
  const raw = parseJson(bytes, 'error parsing configuration');
  if (!isObject(raw)) throw new Error(`error parsing configuration: json: cannot unmarshal ${goType(raw)} into Go value of type types.PluginConf`);
  const str = (k: string): string => {
    const v = raw[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new Error(`error parsing configuration: json: cannot unmarshal ${goType(v)} into Go struct field PluginConf.${k} of type string`);
    return v;
  };
  const type = str('type');
  const name = str('name');
  str('cniVersion');
  const capabilities: Record<string, boolean> = {};
  const caps = raw['capabilities'];
  if (caps !== undefined && caps !== null) {
    if (!isObject(caps)) throw new Error(`error parsing configuration: json: cannot unmarshal ${goType(caps)} into Go struct field PluginConf.capabilities of type map[string]bool`);
    for (const [k, v] of Object.entries(caps)) {
      if (typeof v !== 'boolean') throw new Error(`error parsing configuration: json: cannot unmarshal ${goType(v)} into Go struct field PluginConf.capabilities of type bool`);
      capabilities[k] = v;
    }
  }
  if (type === '') throw new Error("error parsing configuration: missing 'type'");
  return { type, name, capabilities, raw, bytes };
}

/** `NetworkConfFromBytes`: a list, with `plugins` optional unless loadOnlyInlinedPlugins. */
export function confListFromBytes(bytes: Buffer): NetworkConfigList {
  const raw = parseJson(bytes, 'error parsing configuration list');
  if (!isObject(raw)) throw new Error(`error parsing configuration list: json: cannot unmarshal ${goType(raw)} into Go value of type map[string]interface {}`);
  if (!('name' in raw)) throw new Error('error parsing configuration list: no name');
  const name = raw['name'];
  if (typeof name !== 'string') throw new Error(`error parsing configuration list: invalid name type ${goType(name)}`);
  let cniVersion = '';
  if ('cniVersion' in raw) {
    const v = raw['cniVersion'];
    if (typeof v !== 'string') throw new Error(`error parsing configuration list: invalid cniVersion type ${goType(v)}`);
    cniVersion = v;
  }
  if ('cniVersions' in raw) {
    const rvs = raw['cniVersions'];
    if (!Array.isArray(rvs)) throw new Error(`error parsing configuration list: invalid type for cniVersions: ${goType(rvs)}`);
    const vs: string[] = [];
    rvs.forEach((rv: unknown, i) => {
      if (typeof rv !== 'string') throw new Error(`error parsing configuration list: invalid type for cniVersions index ${i}: ${goType(rv)}`);
      let gt: boolean;
      try {
        gt = versionGreater(rv, CURRENT_VERSION);
      } catch (e) {
        throw new Error(`error parsing configuration list: invalid cniVersions entry ${rv} at index ${i}: ${(e as Error).message}`, { cause: e });
      }
      if (!gt) vs.push(rv);
    });
    if (cniVersion !== '') {
      let gt: boolean;
      try {
        gt = versionGreater(cniVersion, CURRENT_VERSION);
      } catch (e) {
        throw new Error(`error parsing configuration list: invalid cniVersion ${cniVersion}: ${(e as Error).message}`, { cause: e });
      }
      if (!gt) vs.push(cniVersion);
    }
    vs.sort((a, b) => (a === b ? 0 : versionGreater(a, b) ? 1 : -1));
    if (vs.length > 0) cniVersion = vs[vs.length - 1]!;
  }
  const readBool = (key: string): boolean => {
    if (!(key in raw)) return false;
    const v = raw[key];
    if (typeof v === 'boolean') return v;
    if (typeof v !== 'string') throw new Error(`error parsing configuration list: invalid type ${goType(v)} for ${key}`);
    const s = v.toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    throw new Error(`error parsing configuration list: invalid value ${JSON.stringify(s)} for ${key}`);
  };
  const disableCheck = readBool('disableCheck');
  const disableGC = readBool('disableGC');
  const loadOnlyInlinedPlugins = readBool('loadOnlyInlinedPlugins');
  const base = { name, cniVersion, disableCheck, disableGC, loadOnlyInlinedPlugins, bytes };
  if (!('plugins' in raw)) {
    if (loadOnlyInlinedPlugins) throw new Error("error parsing configuration list: `loadOnlyInlinedPlugins` is true, and no 'plugins' key");
    return { ...base, plugins: [] };
  }
  const plugins = raw['plugins'];
  if (!Array.isArray(plugins)) throw new Error(`error parsing configuration list: invalid 'plugins' type ${goType(plugins)}`);
  if (plugins.length === 0) throw new Error('error parsing configuration list: no plugins in list');
  const parsed = plugins.map((p: unknown, i) => {
    try {
      return pluginConfFromBytes(Buffer.from(goMarshal(goMapValue(p))));
    } catch (e) {
      throw new Error(`failed to parse plugin config ${i}: ${(e as Error).message}`, { cause: e });
    }
  });
  return { ...base, plugins: parsed };
}

/** `ConfFiles`: regular entries whose extension is exactly one of `exts`; a missing dir is empty. Sorted (byte order). */
export function confFiles(dir: string, exts: readonly string[]): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.isDirectory()) continue;
    if (exts.includes(extname(e.name))) out.push(join(dir, e.name));
  }
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function readConf(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`error reading ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** `NetworkConfFromFile`: a .conflist, plus `<dir>/<name>/*.conf` plugins unless loadOnlyInlinedPlugins. */
export function confListFromFile(file: string): NetworkConfigList {
  const list = confListFromBytes(readConf(file));
  let plugins = list.plugins;
  if (!list.loadOnlyInlinedPlugins) {
    const extra = confFiles(join(dirname(file), list.name), ['.conf']).map((f) => pluginConfFromBytes(readConf(f)));
    plugins = [...plugins, ...extra];
  }
  if (plugins.length === 0) throw new Error('no plugin configs found');
  return { ...list, plugins };
}

/** `ConfListFromConf`: a single plugin object as a one-plugin list (sorted, compact synthetic bytes). */
export function confListFromConf(conf: PluginConfig): NetworkConfigList {
  const cniVersion = typeof conf.raw['cniVersion'] === 'string' ? conf.raw['cniVersion'] : '';
  const bytes = Buffer.from(goMarshal(goMapValue({ name: conf.name, cniVersion, plugins: [conf.raw] })));
  return confListFromBytes(bytes);
}

/** `LoadConf`: the first `.conf`/`.json` (sorted) whose name matches; any unparsable file first aborts. */
export function loadConf(dir: string, name: string): PluginConfig {
  const files = confFiles(dir, ['.conf', '.json']);
  if (files.length === 0) throw new NoConfigsFoundError(dir);
  for (const f of files) {
    const conf = pluginConfFromBytes(readConf(f));
    if (conf.name === name) return conf;
  }
  throw new NotFoundError(dir, name);
}

/** `LoadNetworkConf` (what cnitool uses): .conflist first, then a single .conf wrapped as a list. */
export function loadNetworkConf(dir: string, name: string): NetworkConfigList {
  const lists = confFiles(dir, ['.conflist']);
  for (const f of lists) {
    const list = confListFromFile(f);
    if (list.name === name) return list;
  }
  let single: PluginConfig;
  try {
    single = loadConf(dir, name);
  } catch (e) {
    if (lists.length !== 0 && e instanceof NoConfigsFoundError) throw new NotFoundError(dir, name);
    throw e;
  }
  return confListFromConf(single);
}

/** A list from one file, whatever its extension (what `cni conformance --conf` takes). */
export function confListFromAnyFile(file: string): NetworkConfigList {
  if (basename(file).endsWith('.conflist')) return confListFromFile(file);
  const bytes = readConf(file);
  const raw = parseJson(bytes, 'error parsing configuration');
  if (isObject(raw) && Array.isArray(raw['plugins'])) return confListFromBytes(bytes);
  return confListFromConf(pluginConfFromBytes(bytes));
}
