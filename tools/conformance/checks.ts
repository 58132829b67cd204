/**
 * The checks of a conformance run, in the order they run. Each one drives the
 * plugins as a runtime does (lib/runtime, exec'd inside the sandbox's host
 * namespace) or execs one plugin directly, and inspects the kernel with `ip`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isObject, type JsonObject } from '../../lib/cni/conf.ts';
import type { RawOutput } from '../../lib/cni/invoke.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { formatCidr, formatIp, networkAddress, parseCidr, parseIp } from '../../lib/ip.ts';
import { CniConfig, confListFromBytes, goMarshal, versionAtLeast, type NetworkConfigList, type RuntimeConf } from '../../lib/runtime/index.ts';
import { validateCniError, validateCniResult020, validateCniResult040, validateCniResult100, validateCniVersion } from '../../build/gen/tools-validators.mjs';
import type { CompiledValidator } from '../../lib/cni/conf.ts';
import type { CheckResult, Status } from './report.ts';
import { normDst, sandboxExec, type Sandbox } from './sandbox.ts';

export interface RunOptions {
  readonly paths: readonly string[];
  readonly list: NetworkConfigList;
  readonly tmp: string;
  readonly ifName: string;
  readonly timeoutMs: number;
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  readonly parallel: number;
  readonly progress?: (row: CheckResult) => void;
}

class Skip extends Error {}
const skip = (reason: string): never => {
  throw new Skip(reason);
};
const fail = (reason: string): never => {
  throw new Error(reason);
};

/** Which schema validates a result of `version`. */
function resultValidator(version: string): CompiledValidator {
  if (version === '0.1.0' || version === '0.2.0') return validateCniResult020;
  if (version === '1.0.0' || version === '1.1.0') return validateCniResult100;
  return validateCniResult040;
}

function schemaErrors(v: CompiledValidator): string {
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`).join('; ');
}

/** A container: its namespace and the runtime parameters of its attachment. */
interface Container {
  readonly ns: string;
  readonly rt: RuntimeConf;
}

/** Addresses and routes a result claims for the sandbox, whatever its version. */
interface Claimed {
  addrs: { cidr: string; ifname: string }[];
  routes: { dst: string; gw?: string }[];
  ips: string[];
}

function canonNet(cidr: string): string | undefined {
  const n = parseCidr(cidr);
  return n === undefined ? undefined : formatCidr({ ip: networkAddress(n), prefix: n.prefix });
}

function canonIp(s: string): string | undefined {
  const ip = parseIp(s);
  return ip === undefined ? undefined : formatIp(ip);
}

export function claimed(result: JsonObject, ifName: string): Claimed {
  const out: Claimed = { addrs: [], routes: [], ips: [] };
  const v = String(result['cniVersion']);
  if (v === '0.1.0' || v === '0.2.0') {
    for (const fam of ['ip4', 'ip6']) {
      const c = result[fam];
      if (!isObject(c)) continue;
      out.addrs.push({ cidr: String(c['ip']), ifname: ifName });
      out.ips.push(String(c['ip']).split('/')[0]!);
      for (const r of Array.isArray(c['routes']) ? (c['routes'] as JsonObject[]) : []) {
        out.routes.push({ dst: String(r['dst']), ...(typeof r['gw'] === 'string' ? { gw: r['gw'] } : {}) });
      }
    }
    return out;
  }
  const ifaces = Array.isArray(result['interfaces']) ? (result['interfaces'] as JsonObject[]) : [];
  for (const ip of Array.isArray(result['ips']) ? (result['ips'] as JsonObject[]) : []) {
    const addr = String(ip['address']);
    const idx = ip['interface'];
    let name: string | undefined = ifName;
    if (typeof idx === 'number') {
      const iface = ifaces[idx];
      // an address on a host-side interface (a gateway) is not the sandbox's
      name = iface !== undefined && typeof iface['sandbox'] === 'string' && iface['sandbox'] !== '' ? String(iface['name']) : undefined;
    }
    if (name !== undefined) {
      out.addrs.push({ cidr: addr, ifname: name });
      out.ips.push(addr.split('/')[0]!);
    }
  }
  for (const r of Array.isArray(result['routes']) ? (result['routes'] as JsonObject[]) : []) {
    out.routes.push({ dst: String(r['dst']), ...(typeof r['gw'] === 'string' ? { gw: r['gw'] } : {}) });
  }
  return out;
}

export class Runner {
  readonly rows: CheckResult[] = [];
  private seq = 0;
  private readonly live = new Map<string, { c: Container; list: NetworkConfigList }>();
  private readonly types: string[];
  private readonly listJson: JsonObject;
  private readonly cacheDir: string;

  constructor(
    private readonly sb: Sandbox,
    private readonly o: RunOptions,
  ) {
    this.types = [...new Set(o.list.plugins.map((p) => p.type))];
    this.cacheDir = join(o.tmp, 'cache');
    // every plugin object inline (a list may have come with <dir>/<name>/*.conf plugins)
    const raw = JSON.parse(o.list.bytes.toString()) as JsonObject;
    this.listJson = { ...raw, plugins: o.list.plugins.map((p) => p.raw) };
    delete this.listJson['cniVersions'];
  }

  private async check(id: string, what: string, section: string, fn: () => Promise<void> | void): Promise<boolean> {
    const t0 = Date.now();
    let status: Status = 'pass';
    let reason = '';
    try {
      await fn();
    } catch (e) {
      status = e instanceof Skip ? 'skip' : 'fail';
      reason = (e as Error).message.replace(/\s+/g, ' ').trim();
    }
    const row: CheckResult = { id, what, section, status, reason, ms: Date.now() - t0 };
    this.rows.push(row);
    this.o.progress?.(row);
    return status === 'pass';
  }

  /** The list rewritten to run at `version`. */
  listAt(version: string): NetworkConfigList {
    return confListFromBytes(Buffer.from(goMarshal({ ...this.listJson, cniVersion: version })));
  }

  private runtime(record?: (type: string, stdin: Buffer, out: RawOutput) => void, cacheDir = this.cacheDir): CniConfig {
    return new CniConfig({ paths: this.o.paths, cacheDir, baseEnv: this.o.baseEnv, exec: sandboxExec(this.sb, this.o.timeoutMs, record) });
  }

  private container(args?: RuntimeConf['args']): Container {
    const ns = this.sb.create();
    return { ns, rt: { containerId: `${this.sb.prefix}-ctr${++this.seq}`, netns: this.sb.path(ns), ifName: this.o.ifName, ...(args !== undefined ? { args } : {}) } };
  }

  /** ADD through the runtime; returns the last plugin's raw stdout as JSON and every plugin's raw output. */
  private async add(list: NetworkConfigList, c: Container): Promise<{ result: JsonObject; outputs: { type: string; stdin: Buffer; out: RawOutput }[] }> {
    const outputs: { type: string; stdin: Buffer; out: RawOutput }[] = [];
    this.live.set(c.rt.containerId, { c, list });
    await this.runtime((type, stdin, out) => outputs.push({ type, stdin, out })).addNetworkList(list, c.rt);
    const last = outputs[outputs.length - 1]!;
    return { result: JSON.parse(last.out.stdout) as JsonObject, outputs };
  }

  private async del(list: NetworkConfigList, c: Container, rt: RuntimeConf = c.rt): Promise<void> {
    await this.runtime().delNetworkList(list, rt);
    this.live.delete(c.rt.containerId);
  }

  /** One direct exec of a plugin, with the given CNI variables only (plus PATH and the base environment). */
  private async direct(type: string, vars: Record<string, string>, stdin: string): Promise<RawOutput> {
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.o.baseEnv)) if (v !== undefined && !k.startsWith('CNI_')) base[k] = v;
    const exec = sandboxExec(this.sb, this.o.timeoutMs);
    return exec.exec(exec.findInPath(type, this.o.paths), { ...base, CNI_PATH: this.o.paths.join(':'), ...vars }, Buffer.from(stdin));
  }

  private errorObject(out: RawOutput, expectCode?: number): JsonObject {
    if (out.exitCode === 0) fail(`exit status 0 (stdout ${JSON.stringify(out.stdout.slice(0, 200))})`);
    let json: unknown;
    try {
      json = JSON.parse(out.stdout);
    } catch {
      fail(`stdout is not a JSON error object: ${JSON.stringify(out.stdout.slice(0, 200))}${out.stderr !== '' ? `, stderr ${JSON.stringify(out.stderr.slice(0, 200))}` : ''}`);
    }
    if (!validateCniError(json)) fail(`not an error object: ${schemaErrors(validateCniError)}: ${out.stdout.slice(0, 200)}`);
    const e = json as JsonObject;
    if (expectCode !== undefined && e['code'] !== expectCode) fail(`code ${String(e['code'])} (want ${expectCode}): ${String(e['msg'])}`);
    return e;
  }

  /** Veth and other links in the host namespace, and its rules, before anything ran. */
  private baselineLinks: string[] = [];

  private async leftovers(cid: string, extraLinks: readonly string[] = []): Promise<string[]> {
    const problems: string[] = [];
    const extra = (): string[] => this.sb.links(this.sb.host, 'veth').filter((l) => !this.baselineLinks.includes(l) && !extraLinks.includes(l));
    // a deleted namespace takes its veth ends with it asynchronously (the kernel's netns cleanup work): allow 3 s
    let links = extra();
    for (let i = 0; i < 60 && links.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      links = extra();
    }
    if (links.length > 0) problems.push(`veth left in the host namespace: ${links.join(', ')}`);
    // the id as a whole word (ctr1 must not match ctr12)
    const word = new RegExp(`(?<![A-Za-z0-9_.-])${cid.replace(/[.]/g, '\\.')}(?![A-Za-z0-9_.-])`);
    const rules = this.sb.rules().split('\n').filter((l) => word.test(l));
    if (rules.length > 0) problems.push(`rules naming the container left: ${rules.slice(0, 3).join(' | ')}`);
    return problems;
  }

  private kernelMatches(c: Container, result: JsonObject): void {
    const links = this.sb.links(c.ns);
    if (!links.includes(c.rt.ifName)) fail(`no ${c.rt.ifName} in the container namespace (links: ${links.join(', ')})`);
    const cl = claimed(result, c.rt.ifName);
    const missing: string[] = [];
    for (const a of cl.addrs) {
      const want = parseCidr(a.cidr);
      const have = this.sb.addrs(c.ns, a.ifname) ?? [];
      if (want === undefined || !have.some((h) => canonIp(h.local) === formatIp(want.ip) && h.prefixlen === want.prefix)) missing.push(`address ${a.cidr} on ${a.ifname}`);
    }
    const routes = this.sb.routes(c.ns);
    for (const r of cl.routes) {
      const dst = canonNet(r.dst);
      const gw = r.gw === undefined ? undefined : canonIp(r.gw);
      const ok = routes.some((k) => canonNet(normDst(k.dst, k.dst.includes(':'))) === dst && (gw === undefined || (k.gateway !== undefined && canonIp(k.gateway) === gw)));
      if (!ok) missing.push(`route ${r.dst}${r.gw !== undefined ? ` via ${r.gw}` : ''}`);
    }
    if (missing.length > 0) fail(`not in the namespace: ${missing.join(', ')}`);
  }

  // ---------------------------------------------------------------------------

  async run(): Promise<void> {
    this.baselineLinks = this.sb.links(this.sb.host, 'veth');
    mkdirSync(this.cacheDir, { recursive: true });
    const versions = await this.versionChecks();
    await this.errorChecks();
    if (versions.length === 0) return;
    for (const v of versions) await this.lifecycle(v);
    const top = versions[versions.length - 1]!;
    await this.delEdgeCases(top);
    await this.concurrency(top);
    await this.gcAndStatus(versions);
    await this.chaining(top);
  }

  /** Versions every plugin of the list claims (and the spec knows), oldest first. */
  private async versionChecks(): Promise<string[]> {
    const claims = new Map<string, string[]>();
    const listVersion = this.o.list.cniVersion === '' ? '0.1.0' : this.o.list.cniVersion;
    for (const type of this.types) {
      await this.check(`version.shape[${type}]`, 'VERSION answers {cniVersion, supportedVersions}', 'SPEC §2 VERSION, §5 Version success', async () => {
        const out = await this.direct(type, { CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: listVersion }));
        if (out.exitCode !== 0) fail(`exit ${out.exitCode}: ${out.stdout.trim() || out.stderr.trim()}`);
        let json: unknown;
        try {
          json = JSON.parse(out.stdout);
        } catch {
          fail(`not JSON: ${out.stdout.slice(0, 200)}`);
        }
        if (!validateCniVersion(json)) fail(schemaErrors(validateCniVersion));
        claims.set(type, (json as { supportedVersions: string[] }).supportedVersions);
      });
      await this.check(`version.list[${type}]`, `supportedVersions holds the list's version ${listVersion}`, 'SPEC §2 VERSION, §1 Version considerations', () => {
        const c = claims.get(type) ?? skip('no VERSION answer');
        if (!c.includes(listVersion)) fail(`${listVersion} not in ${c.join(', ')}`);
      });
      await this.check(`version.stdin[${type}]`, 'VERSION ignores its stdin (empty, not JSON)', 'SPEC §2 VERSION', async () => {
        for (const stdin of ['', 'not json']) {
          const out = await this.direct(type, { CNI_COMMAND: 'VERSION' }, stdin);
          if (out.exitCode !== 0) fail(`stdin ${JSON.stringify(stdin)}: exit ${out.exitCode}: ${out.stdout.trim() || out.stderr.trim()}`);
        }
      });
    }
    const all = [...claims.values()];
    if (all.length !== this.types.length) return [];
    const common = SUPPORTED_VERSIONS.filter((v) => all.every((c) => c.includes(v)));
    for (const v of SUPPORTED_VERSIONS.filter((x) => !common.includes(x))) {
      const not = this.types.filter((t) => !(claims.get(t) ?? []).includes(v));
      await this.check(`add.result@${v}`, `ADD's result validates against the ${v} result schema`, 'SPEC §2 ADD, §5 ADD success', () => skip(`not claimed by ${not.join(', ')}`));
    }
    return common;
  }

  private async errorChecks(): Promise<void> {
    const v = this.o.list.cniVersion === '' ? '0.1.0' : this.o.list.cniVersion;
    const plugin = this.listAt(v).plugins;
    for (const type of this.types) {
      const p = plugin.find((x) => x.type === type)!;
      const conf = { ...p.raw, name: this.o.list.name, cniVersion: v };
      const vars = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: `${this.sb.prefix}-err`, CNI_NETNS: '/run/netns/does-not-exist', CNI_IFNAME: this.o.ifName };
      await this.check(`error.env[${type}]`, 'ADD without CNI_CONTAINERID: error object, code 4', 'SPEC §2 Parameters, §5 Error', async () => {
        const rest: Record<string, string> = { ...vars };
        delete rest['CNI_CONTAINERID'];
        this.errorObject(await this.direct(type, rest, JSON.stringify(conf)), 4);
      });
      await this.check(`error.command[${type}]`, 'unknown CNI_COMMAND: error object, code 4', 'SPEC §2 Parameters, §5 Error', async () => {
        this.errorObject(await this.direct(type, { ...vars, CNI_COMMAND: 'FROB' }, JSON.stringify(conf)), 4);
      });
      await this.check(`error.json[${type}]`, 'undecodable config: error object, code 6', 'SPEC §2 Errors, §5 Error', async () => {
        this.errorObject(await this.direct(type, vars, '{"cniVersion":'), 6);
      });
      await this.check(`error.version[${type}]`, 'unsupported cniVersion: error object, code 1', 'SPEC §2 Errors, §5 Error', async () => {
        this.errorObject(await this.direct(type, vars, JSON.stringify({ ...conf, cniVersion: '99.0.0' })), 1);
      });
    }
  }

  private async lifecycle(v: string): Promise<void> {
    const list = this.listAt(v);
    const c = this.container();
    let result: JsonObject | undefined;
    const added = await this.check(`add.result@${v}`, `ADD's result validates against the ${v} result schema`, 'SPEC §2 ADD, §5 ADD success', async () => {
      const r = await this.add(list, c);
      result = r.result;
      if (result['cniVersion'] !== v) fail(`result cniVersion ${JSON.stringify(result['cniVersion'])}, asked for ${v}`);
      const validate = resultValidator(v);
      if (!validate(result)) fail(schemaErrors(validate));
      if ((v === '0.1.0' || v === '0.2.0') && result['ip4'] === undefined && result['ip6'] === undefined) fail('neither ip4 nor ip6');
    });
    // 0.1.0 and 0.2.0 results have no interfaces to index
    if (versionAtLeast(v, '0.3.0')) {
      await this.check(`add.indexes@${v}`, 'every ips[].interface indexes interfaces[]', 'SPEC §5 ADD success (ips.interface)', () => {
        if (!added || result === undefined) skip('ADD failed');
        const n = Array.isArray(result!['interfaces']) ? (result!['interfaces'] as unknown[]).length : 0;
        const bad = ((result!['ips'] as JsonObject[] | undefined) ?? []).filter((ip) => typeof ip['interface'] === 'number' && (ip['interface'] < 0 || ip['interface'] >= n));
        if (bad.length > 0) fail(`index out of range (${n} interfaces): ${JSON.stringify(bad)}`);
      });
    }
    await this.check(`add.kernel@${v}`, 'the sandbox interface has every address and route of the result', 'SPEC §2 ADD, §5 ADD success', () => {
      if (!added || result === undefined) skip('ADD failed');
      this.kernelMatches(c, result!);
    });
    if (versionAtLeast(v, '0.4.0')) {
      await this.check(`check.ok@${v}`, 'CHECK right after ADD succeeds', 'SPEC §2 CHECK', async () => {
        if (!added) skip('ADD failed');
        await this.runtime().checkNetworkList(list, c.rt);
      });
      await this.check(`check.broken@${v}`, 'CHECK fails with an error object once the interface is gone', 'SPEC §2 CHECK, §5 Error', async () => {
        if (!added) skip('ADD failed');
        const del = this.sb.linkDel(c.ns, c.rt.ifName);
        if (del !== '') fail(`could not break the interface: ${del}`);
        const outputs: RawOutput[] = [];
        try {
          await this.runtime((_t, _s, out) => outputs.push(out)).checkNetworkList(list, c.rt);
        } catch {
          this.errorObject(outputs[outputs.length - 1] ?? fail('CHECK failed without running a plugin'));
          return;
        }
        fail('every plugin of the list passed CHECK without the interface');
      });
    } else {
      await this.check(`check.refused@${v}`, `CHECK is refused at ${v} (error object, code 1)`, 'SPEC §2 CHECK', async () => {
        if (!added) skip('ADD failed');
        const p = list.plugins[0]!;
        const conf = { ...(JSON.parse(p.bytes.toString()) as JsonObject), name: list.name, cniVersion: v };
        this.errorObject(await this.direct(p.type, { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: c.rt.containerId, CNI_NETNS: c.rt.netns, CNI_IFNAME: c.rt.ifName }, JSON.stringify(conf)), 1);
      });
    }
    const deleted = await this.check(`del.twice@${v}`, 'DEL succeeds, and again right after', 'SPEC §2 DEL', async () => {
      await this.del(list, c);
      await this.del(list, c);
    });
    await this.check(`del.clean@${v}`, 'after DEL nothing in the host namespace names the container (veth, iptables/nft rule)', 'SPEC §2 DEL', async () => {
      if (!deleted) skip('DEL failed');
      const p = await this.leftovers(c.rt.containerId);
      if (p.length > 0) fail(p.join('; '));
    });
    await this.check(`del.realloc@${v}`, "the container's address can be allocated again", 'SPEC §2 DEL', async () => {
      if (!deleted || result === undefined) skip('ADD or DEL failed');
      const ips = claimed(result!, c.rt.ifName).ips;
      if (ips.length === 0) skip('the result has no address');
      const c2 = this.container([['IgnoreUnknown', '1'], ['IP', ips[0]!]]);
      try {
        const r2 = await this.add(list, c2).catch((e: unknown) => fail(`asking for ${ips[0]} again (CNI_ARGS IP=) failed: ${(e as Error).message}`));
        const got = claimed(r2.result, c2.rt.ifName).ips;
        // an IPAM that ignores IP= hands out another address: nothing can be concluded
        if (!got.includes(ips[0]!)) skip(`the IPAM ignores CNI_ARGS IP= (asked for ${ips[0]}, got ${got.join(', ')})`);
      } finally {
        await this.del(list, c2).catch(() => undefined);
        this.sb.remove(c2.ns);
      }
    });
    this.sb.remove(c.ns);
  }

  private async delEdgeCases(v: string): Promise<void> {
    const list = this.listAt(v);
    {
      const c = this.container();
      await this.check(`del.netns-gone@${v}`, 'DEL succeeds after the namespace is gone, and leaves nothing', 'SPEC §2 DEL', async () => {
        await this.add(list, c);
        this.sb.remove(c.ns);
        await this.del(list, c);
        const p = await this.leftovers(c.rt.containerId);
        if (p.length > 0) fail(p.join('; '));
      });
      this.sb.remove(c.ns);
    }
    {
      const c = this.container();
      await this.check(`del.empty-netns@${v}`, 'DEL with CNI_NETNS empty succeeds, and leaves nothing once the namespace is gone', 'SPEC §2 DEL', async () => {
        await this.add(list, c);
        await this.del(list, c, { ...c.rt, netns: '' });
        this.sb.remove(c.ns);
        const p = await this.leftovers(c.rt.containerId);
        if (p.length > 0) fail(p.join('; '));
      });
      this.sb.remove(c.ns);
    }
    {
      const c = this.container();
      await this.check(`del.without-add@${v}`, 'DEL of a container that was never added succeeds', 'SPEC §2 DEL', async () => {
        await this.del(list, c);
      });
      this.sb.remove(c.ns);
    }
  }

  private async concurrency(v: string): Promise<void> {
    const list = this.listAt(v);
    const cs = Array.from({ length: this.o.parallel }, () => this.container());
    const results: JsonObject[] = [];
    const ok = await this.check(`concurrency.add@${v}`, `${cs.length} parallel ADDs succeed with distinct addresses`, 'SPEC §3 Lifecycle (concurrent attachments)', async () => {
      const settled = await Promise.allSettled(cs.map((c) => this.add(list, c)));
      const errs = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
      if (errs.length > 0) fail(`${errs.length} failed: ${errs[0]}`);
      for (const s of settled) if (s.status === 'fulfilled') results.push(s.value.result);
      const ips = results.flatMap((r) => claimed(r, this.o.ifName).ips);
      const dup = ips.filter((ip, i) => ips.indexOf(ip) !== i);
      if (dup.length > 0) fail(`address handed out twice: ${dup.join(', ')}`);
    });
    await this.check(`concurrency.del@${v}`, 'parallel DELs succeed and leave nothing', 'SPEC §3 Lifecycle', async () => {
      if (!ok) skip('parallel ADD failed');
      const settled = await Promise.allSettled(cs.map((c) => this.del(list, c)));
      const errs = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
      if (errs.length > 0) fail(`${errs.length} failed: ${errs[0]}`);
      const p = (await Promise.all(cs.map((c) => this.leftovers(c.rt.containerId)))).flat();
      if (p.length > 0) fail(p.join('; '));
    });
    for (const c of cs) {
      if (this.live.has(c.rt.containerId)) await this.del(list, c).catch(() => undefined);
      this.sb.remove(c.ns);
    }
  }

  private async gcAndStatus(versions: readonly string[]): Promise<void> {
    if (!versions.includes('1.1.0')) {
      const why = `the plugins do not all claim 1.1.0 (common versions: ${versions.join(', ')})`;
      await this.check('gc.release@1.1.0', 'GC releases attachments missing from cni.dev/valid-attachments', 'SPEC §2 GC, §3 Garbage-collecting', () => skip(why));
      await this.check('gc.keep@1.1.0', 'GC keeps listed attachments working', 'SPEC §2 GC', () => skip(why));
      await this.check('status.ok@1.1.0', 'STATUS succeeds on a healthy node', 'SPEC §2 STATUS', () => skip(why));
      return;
    }
    const list = this.listAt('1.1.0');
    const keep = this.container();
    const stale = this.container();
    let staleIp: string | undefined;
    let keepVeths: string[] = [];
    const added = await this.check('gc.release@1.1.0', 'GC releases attachments missing from cni.dev/valid-attachments', 'SPEC §2 GC, §3 Garbage-collecting', async () => {
      await this.add(list, keep);
      keepVeths = this.sb.links(this.sb.host, 'veth');
      const r = await this.add(list, stale);
      staleIp = claimed(r.result, stale.rt.ifName).ips[0];
      // the stale container is gone as a runtime would lose it: namespace deleted, no DEL, cache entry lost
      this.sb.remove(stale.ns);
      this.runtime().cache.remove(list.name, stale.rt.containerId, stale.rt.ifName);
      this.live.delete(stale.rt.containerId);
      // plugin-side GC only (a runtime with an empty cache): the plugins themselves must release it
      await this.runtime(undefined, join(this.o.tmp, 'empty-cache')).gcNetworkList(list, [{ containerID: keep.rt.containerId, ifname: keep.rt.ifName }]);
      const ip = staleIp ?? skip('the result has no address');
      const probe = this.container([['IgnoreUnknown', '1'], ['IP', ip]]);
      try {
        const r2 = await this.add(list, probe);
        const got = claimed(r2.result, probe.rt.ifName).ips;
        if (!got.includes(ip)) skip(`the IPAM ignores CNI_ARGS IP= (asked for ${ip}, got ${got.join(', ')})`);
      } catch (e) {
        fail(`${staleIp} not allocatable after GC: ${(e as Error).message}`);
      } finally {
        await this.del(list, probe).catch(() => undefined);
        this.sb.remove(probe.ns);
      }
      const p = await this.leftovers(stale.rt.containerId, keepVeths);
      if (p.length > 0) fail(p.join('; '));
    });
    await this.check('gc.keep@1.1.0', 'GC keeps listed attachments working (CHECK passes)', 'SPEC §2 GC', async () => {
      if (!added && !this.live.has(keep.rt.containerId)) skip('ADD failed');
      await this.runtime().checkNetworkList(list, keep.rt);
    });
    if (this.live.has(keep.rt.containerId)) await this.del(list, keep).catch(() => undefined);
    this.sb.remove(keep.ns);
    this.sb.remove(stale.ns);
    await this.check('status.ok@1.1.0', 'STATUS succeeds on a healthy node', 'SPEC §2 STATUS', async () => {
      await this.runtime().statusNetworkList(list);
    });
  }

  private async chaining(v: string): Promise<void> {
    const list = this.listAt(v);
    if (list.plugins.length < 2) {
      const why = 'the list has one plugin';
      await this.check(`chain.prev@${v}`, 'each chained plugin gets the previous result as prevResult', 'SPEC §3 Adding an attachment', () => skip(why));
      await this.check(`chain.carry@${v}`, "the final result carries the earlier plugins' interfaces and addresses", 'SPEC §3 Adding an attachment', () => skip(why));
      return;
    }
    const c = this.container();
    let outputs: { type: string; stdin: Buffer; out: RawOutput }[] = [];
    let final: JsonObject | undefined;
    const ok = await this.check(`chain.prev@${v}`, 'each chained plugin gets the previous result as prevResult', 'SPEC §3 Adding an attachment', async () => {
      const r = await this.add(list, c);
      outputs = r.outputs;
      final = r.result;
      for (let i = 1; i < outputs.length; i++) {
        const conf = JSON.parse(outputs[i]!.stdin.toString()) as JsonObject;
        if (!isObject(conf['prevResult'])) fail(`plugin ${i} (${outputs[i]!.type}) got no prevResult`);
      }
    });
    await this.check(`chain.carry@${v}`, "the final result carries the earlier plugins' interfaces and addresses", 'SPEC §3 Adding an attachment', () => {
      if (!ok || final === undefined) skip('ADD failed');
      const first = JSON.parse(outputs[0]!.out.stdout) as JsonObject;
      const want = claimed(first, c.rt.ifName);
      const have = claimed(final!, c.rt.ifName);
      const lost = want.addrs.filter((a) => !have.addrs.some((h) => h.cidr === a.cidr)).map((a) => a.cidr);
      const names = (r: JsonObject): string[] => (Array.isArray(r['interfaces']) ? (r['interfaces'] as JsonObject[]).map((i) => String(i['name'])) : []);
      const lostIf = names(first).filter((n) => !names(final!).includes(n));
      if (lost.length + lostIf.length > 0) fail(`lost: ${[...lost, ...lostIf].join(', ')}`);
    });
    await this.del(list, c).catch(() => undefined);
    this.sb.remove(c.ns);
  }

  /** DEL of whatever a failed check left attached (best effort; the sandbox goes anyway). */
  async cleanup(): Promise<void> {
    for (const { c, list } of this.live.values()) await this.del(list, c).catch(() => undefined);
  }
}
