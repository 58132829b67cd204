/**
 * CNI_ARGS ("K=V;K=V"). The reference (pkg/types/args.go LoadArgs) splits each
 * pair on every '=' and fails on values that contain one; we split on the first
 * '=' only, so values may contain '=' (a documented improvement). Keys are
 * case-sensitive, as in the reference.
 */
import { CniCode, CniError } from './errors.ts';

export interface CniArgsPair {
  key: string;
  value: string;
}

/** Parses CNI_ARGS into ordered pairs. One trailing ';' is accepted; any other empty segment is refused, as the reference refuses it. */
export function parseCniArgs(raw: string): CniArgsPair[] {
  const pairs: CniArgsPair[] = [];
  if (raw === '') return pairs;
  const segments = raw.split(';');
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i === segments.length - 1 && i > 0) continue;
    if (segment === '') throw new CniError(CniCode.InvalidEnvironmentVariables, 'ARGS: invalid pair ""');
    const eq = segment.indexOf('=');
    // an empty key ("=v") is a key nobody knows, as in the reference, not a malformed pair
    if (eq < 0) throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: invalid pair "${segment}"`);
    pairs.push({ key: segment.slice(0, eq), value: segment.slice(eq + 1) });
  }
  return pairs;
}

/** Well-known keys that runtimes send (containerd, CRI-O, kubelet) and plugins may ignore. */
export const COMMON_ARGS = ['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'] as const;

export interface LoadArgsOptions {
  /** Keys this plugin understands, in addition to COMMON_ARGS. */
  known: readonly string[];
  /**
   * When true (our default for plugins in a chain), unknown keys are ignored
   * even without IgnoreUnknown=1: runtimes add keys a given plugin does not know
   * (containernetworking/cni#560). When false, the reference's strict rule applies.
   */
  lenient: boolean;
}

function parseBool(pair: CniArgsPair): boolean {
  const v = pair.value.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: error parsing value of pair "${pair.key}=${pair.value}"`, 'boolean unmarshal error');
}

/** Validates pairs against the known keys and returns the values (last one wins). */
export function loadCniArgs(raw: string, opts: LoadArgsOptions): Map<string, string> {
  const pairs = parseCniArgs(raw);
  const known = new Set<string>([...COMMON_ARGS, ...opts.known]);
  const values = new Map<string, string>();
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const p of pairs) {
    if (p.key === 'IgnoreUnknown') ignoreUnknown = parseBool(p);
  }
  for (const p of pairs) {
    if (known.has(p.key)) values.set(p.key, p.value);
    else unknown.push(`${p.key}=${p.value}`);
  }
  if (unknown.length > 0 && !ignoreUnknown && !opts.lenient) {
    throw new CniError(CniCode.InvalidEnvironmentVariables, `ARGS: unknown args [${unknown.map((u) => JSON.stringify(u)).join(' ')}]`);
  }
  return values;
}
