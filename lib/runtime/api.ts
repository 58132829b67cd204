/**
 * The runtime side of CNI, as libcni (containernetworking/cni libcni/api.go,
 * v1.3.0) does it: ADD through a list with each plugin's result as the next
 * one's prevResult, runtimeConfig from declared capabilities, the result
 * cached; CHECK and DEL (reverse order) with the cached result; GC of cached
 * attachments the caller does not list as valid; STATUS; VERSION. Plugins are
 * always exec'd (this is what a runtime does), never run in-process.
 */
import { isObject, type JsonObject } from '../cni/conf.ts';
import { CniCode, CniError } from '../cni/errors.ts';
import { execPlugin, findInPath, pluginError, type RawOutput } from '../cni/invoke.ts';
import { convertResult, resultVersionOf } from '../cni/types/convert.ts';
import { validateContainerId, validateInterfaceName, validateNetworkName } from '../cni/env.ts';
import { CACHE_KIND, ResultCache, decodeCacheEntry, type CniArgs } from './cache.ts';
import { type NetworkConfigList, type PluginConfig, versionAtLeast } from './conf.ts';
import { goMapValue, goMarshal } from './gojson.ts';

/** libcni's RuntimeConf. */
export interface RuntimeConf {
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args?: CniArgs;
  readonly capabilityArgs?: JsonObject;
}

export interface GCAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** How plugins are started; injectable (tests record invocations with it). */
export interface PluginExec {
  findInPath(type: string, paths: readonly string[]): string;
  exec(path: string, env: Record<string, string>, stdin: Buffer): Promise<RawOutput>;
}

export interface CniConfigOptions {
  /** CNI_PATH directories. */
  readonly paths: readonly string[];
  /** Cache root (results/ goes under it); default /var/lib/cni. */
  readonly cacheDir?: string;
  /** Environment every plugin inherits (libcni: the runtime's whole environment). */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Bound on one plugin run; default none (libcni has none either). */
  readonly timeoutMs?: number;
  /** Plugin stderr on success (libcni copies it to the runtime's stderr). */
  readonly onStderr?: (text: string) => void;
  readonly exec?: PluginExec;
}

/** An error of the runtime, keeping the plugin's CNI code when there was one. */
export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  constructor(
    message: string,
    readonly code: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function codeOf(err: unknown): number | undefined {
  if (err instanceof CniError) return err.code;
  if (err instanceof RuntimeError) return err.code;
  return undefined;
}

function wrap(prefix: string, err: unknown): RuntimeError {
  return new RuntimeError(`${prefix}${(err as Error).message}`, codeOf(err), { cause: err });
}

/** libcni's `pluginDescription`. */
function describe(p: PluginConfig): string {
  return `type=${JSON.stringify(p.type)}${p.name !== '' ? ` name=${JSON.stringify(p.name)}` : ''}`;
}

/** CNI_ARGS as libcni builds it: `k=v` pairs joined by `;`. */
export function stringifyArgs(args: CniArgs | undefined): string {
  return (args ?? []).map(([k, v]) => `${k}=${v}`).join(';');
}

/**
 * The stdin for one plugin (libcni `buildOneConfig` + `injectRuntimeConfig`):
 * the plugin object re-encoded as a Go map (sorted keys, compact) with `name`,
 * `cniVersion` set, `prevResult` as given, and `runtimeConfig` replaced by the
 * declared ∩ supplied capabilities when there is at least one.
 */
export function buildOneConfig(listName: string, cniVersion: string, plugin: PluginConfig, prevResult: JsonObject | undefined, rt: RuntimeConf | undefined, extra: JsonObject = {}): Buffer {
  const conf = goMapValue(JSON.parse(plugin.bytes.toString())) as JsonObject;
  conf['name'] = listName;
  conf['cniVersion'] = cniVersion;
  if (prevResult !== undefined) conf['prevResult'] = prevResult;
  for (const [k, v] of Object.entries(extra)) conf[k] = v;
  if (rt !== undefined) {
    const rc: JsonObject = {};
    for (const [cap, supported] of Object.entries(plugin.capabilities)) {
      if (supported && rt.capabilityArgs !== undefined && cap in rt.capabilityArgs) rc[cap] = goMapValue(rt.capabilityArgs[cap]);
    }
    if (Object.keys(rc).length > 0) conf['runtimeConfig'] = goMapValue(rc);
  }
  const sorted: JsonObject = {};
  for (const k of Object.keys(conf).sort()) sorted[k] = conf[k];
  return Buffer.from(goMarshal(sorted));
}

const defaultExec = (opts: CniConfigOptions): PluginExec => ({
  findInPath: (type, paths) => findInPath(type, paths),
  exec: (path, env, stdin) => execPlugin(path, env, stdin, () => undefined, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
});

export class CniConfig {
  readonly cache: ResultCache;
  private readonly exec: PluginExec;

  constructor(private readonly opts: CniConfigOptions) {
    this.cache = new ResultCache(opts.cacheDir);
    this.exec = opts.exec ?? defaultExec(opts);
  }

  /** The environment of one run: the base environment with the CNI variables appended (later wins). */
  private env(command: string, rt: RuntimeConf | undefined): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.opts.baseEnv ?? {})) if (v !== undefined) env[k] = v;
    env['CNI_COMMAND'] = command;
    env['CNI_CONTAINERID'] = rt?.containerId ?? '';
    env['CNI_NETNS'] = rt?.netns ?? '';
    env['CNI_ARGS'] = stringifyArgs(rt?.args);
    env['CNI_IFNAME'] = rt?.ifName ?? '';
    env['CNI_PATH'] = this.opts.paths.join(':');
    return env;
  }

  /** Runs one plugin; a failure is the plugin's CniError (libcni's pluginErr). */
  private async run(command: string, type: string, stdin: Buffer, rt: RuntimeConf | undefined): Promise<string> {
    const path = this.exec.findInPath(type, this.opts.paths);
    const out = await this.exec.exec(path, this.env(command, rt), stdin);
    if (out.exitCode !== 0) throw pluginError(out);
    if (out.stderr !== '') this.opts.onStderr?.(out.stderr);
    return out.stdout;
  }

  /** `ExecPluginWithResult`: the plugin's result, stamped with the config version if it had none, re-encoded in its own version. */
  private async runWithResult(type: string, stdin: Buffer, cniVersion: string, rt: RuntimeConf): Promise<JsonObject> {
    const stdout = await this.run('ADD', type, stdin, rt);
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch (e) {
      throw new Error(`decoding version from network config: ${(e as Error).message}`, { cause: e });
    }
    if (!isObject(json)) throw new Error('decoding version from network config: not a JSON object');
    const version = resultVersionOf(json, cniVersion === '' ? '0.1.0' : cniVersion);
    return convertResult({ ...json, cniVersion: version }, version);
  }

  /** `AddNetworkList`: the last plugin's result in its own version; cached only when every plugin succeeded. */
  async addNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<JsonObject> {
    let result: JsonObject | undefined;
    for (const plugin of list.plugins) {
      try {
        this.exec.findInPath(plugin.type, this.opts.paths);
        validateContainerId(rt.containerId);
        // libcni's ValidateNetworkName (the plugin-side check has no separate empty case)
        if (list.name === '') throw new CniError(CniCode.InvalidNetworkConfig, 'missing network name:');
        validateNetworkName(list.name);
        validateInterfaceName(rt.ifName);
        const stdin = buildOneConfig(list.name, list.cniVersion, plugin, result, rt);
        result = await this.runWithResult(plugin.type, stdin, list.cniVersion, rt);
      } catch (e) {
        throw wrap(`plugin ${describe(plugin)} failed (add): `, e);
      }
    }
    if (result === undefined) throw new RuntimeError('no plugins in list', undefined);
    try {
      this.cache.write({
        containerId: rt.containerId,
        ifName: rt.ifName,
        networkName: list.name,
        config: list.bytes,
        netns: rt.netns,
        cniArgs: rt.args,
        capabilityArgs: rt.capabilityArgs,
        result,
      });
    } catch (e) {
      throw wrap(`failed to set network ${JSON.stringify(list.name)} cached result: `, e);
    }
    return result;
  }

  /** `getCachedResult`: the cached result converted to `cniVersion`; undefined when there is no readable file. */
  cachedResult(network: string, cniVersion: string, rt: RuntimeConf): JsonObject | undefined {
    const text = this.cache.read(network, rt.containerId, rt.ifName);
    if (text === undefined) return undefined;
    const entry = decodeCacheEntry(text);
    let raw: unknown;
    if (entry === undefined) {
      raw = JSON.parse(text); // legacy: the file is a bare result
    } else {
      raw = entry.result ?? {};
    }
    const v = cniVersion === '' ? '0.1.0' : cniVersion;
    try {
      return convertResult(raw, v);
    } catch (e) {
      throw new Error(`failed to convert cached result to config version ${JSON.stringify(v)}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** `CheckNetworkList`. */
  async checkNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw new RuntimeError(`configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`, undefined);
    }
    if (list.disableCheck) return;
    let cached: JsonObject | undefined;
    try {
      cached = this.cachedResult(list.name, list.cniVersion, rt);
    } catch (e) {
      throw wrap(`failed to get network ${JSON.stringify(list.name)} cached result: `, e);
    }
    for (const plugin of list.plugins) {
      await this.run('CHECK', plugin.type, buildOneConfig(list.name, list.cniVersion, plugin, cached, rt), rt);
    }
  }

  /** `DelNetworkList`: reverse order, every plugin with the cached result (≥ 0.4.0); the cache entry removed on success. */
  async delNetworkList(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    let cached: JsonObject | undefined;
    if (versionAtLeast(list.cniVersion, '0.4.0')) {
      try {
        cached = this.cachedResult(list.name, list.cniVersion, rt);
      } catch {
        this.cache.remove(list.name, rt.containerId, rt.ifName);
        cached = undefined;
      }
    }
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      const plugin = list.plugins[i]!;
      try {
        await this.run('DEL', plugin.type, buildOneConfig(list.name, list.cniVersion, plugin, cached, rt), rt);
      } catch (e) {
        throw wrap(`plugin ${describe(plugin)} failed (delete): `, e);
      }
    }
    try {
      this.cache.remove(list.name, rt.containerId, rt.ifName);
    } catch {
      // libcni ignores a failed removal
    }
  }

  /**
   * `GCNetworkList`: DEL every cached attachment of this network not in
   * `validAttachments` (undefined: none is valid), then GC to every plugin
   * (≥ 1.1.0) with `cni.dev/valid-attachments` and `cni.dev/attachments`.
   * Errors are collected; every step runs.
   */
  async gcNetworkList(list: NetworkConfigList, validAttachments: readonly GCAttachment[] | undefined): Promise<void> {
    if (list.disableGC) return;
    let cached;
    try {
      cached = this.cache.attachments('');
    } catch {
      return;
    }
    const valid = new Set((validAttachments ?? []).map((a) => `${a.containerID}\u0000${a.ifname}`));
    const errors: string[] = [];
    let code: number | undefined;
    for (const a of cached) {
      if (a.networkName !== list.name) continue;
      if (validAttachments !== undefined && valid.has(`${a.containerId}\u0000${a.ifName}`)) continue;
      const rt: RuntimeConf = {
        containerId: a.containerId,
        netns: a.netns,
        ifName: a.ifName,
        ...(a.cniArgs !== undefined ? { args: a.cniArgs } : {}),
        ...(a.capabilityArgs !== undefined ? { capabilityArgs: a.capabilityArgs } : {}),
      };
      try {
        await this.delNetworkList(list, rt);
      } catch (e) {
        code ??= codeOf(e);
        errors.push(`failed to delete stale attachment ${a.containerId} ${a.ifName}: ${(e as Error).message}`);
      }
    }
    if (versionAtLeast(list.cniVersion, '1.1.0')) {
      const extra: JsonObject = {};
      if (validAttachments !== undefined) {
        const listed = validAttachments.map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
        extra['cni.dev/valid-attachments'] = listed;
        extra['cni.dev/attachments'] = listed;
      }
      for (const plugin of list.plugins) {
        try {
          await this.run('GC', plugin.type, buildOneConfig(list.name, list.cniVersion, plugin, undefined, undefined, extra), undefined);
        } catch (e) {
          code ??= codeOf(e);
          errors.push(`failed to GC plugin ${plugin.type}: ${(e as Error).message}`);
        }
      }
    }
    if (errors.length > 0) throw new RuntimeError(errors.join('\n'), code);
  }

  /** `GetStatusNetworkList`: nothing below 1.1.0; else each plugin in order, the first error unwrapped. */
  async statusNetworkList(list: NetworkConfigList): Promise<void> {
    if (!versionAtLeast(list.cniVersion, '1.1.0')) return;
    for (const plugin of list.plugins) {
      await this.run('STATUS', plugin.type, buildOneConfig(list.name, list.cniVersion, plugin, undefined, undefined), undefined);
    }
  }

  /** VERSION of one plugin: its `supportedVersions` (libcni `GetVersionInfo`, which sends cniVersion 1.1.0... as the newest it knows). */
  async versionInfo(type: string): Promise<{ cniVersion: string; supportedVersions: string[] }> {
    const stdout = await this.run('VERSION', type, Buffer.from(JSON.stringify({ cniVersion: '1.1.0' })), undefined);
    const json: unknown = JSON.parse(stdout);
    if (!isObject(json)) throw new Error('decoding version info: not a JSON object');
    const sv = json['supportedVersions'];
    const cv = json['cniVersion'];
    if (typeof cv !== 'string') throw new Error('decoding version info: no cniVersion');
    // a 0.1.0 plugin answers without supportedVersions: it supports 0.1.0 only
    if (sv === undefined) return { cniVersion: cv, supportedVersions: ['0.1.0'] };
    if (!Array.isArray(sv) || !sv.every((s) => typeof s === 'string')) throw new Error('decoding version info: supportedVersions is not a list of strings');
    return { cniVersion: cv, supportedVersions: sv };
  }

  /** `ValidateNetworkList`: every plugin exists and claims the list's version (exact match). */
  async validateNetworkList(list: NetworkConfigList): Promise<void> {
    const v = list.cniVersion === '' ? '0.1.0' : list.cniVersion;
    for (const plugin of list.plugins) {
      const info = await this.versionInfo(plugin.type);
      if (!info.supportedVersions.includes(v)) throw new Error(`plugin ${plugin.type} does not support config version ${JSON.stringify(v)}`);
    }
  }
}

export { CACHE_KIND };
