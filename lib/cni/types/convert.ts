/**
 * Conversion between result versions, as the reference does it
 * (containernetworking/cni pkg/types/{020,040,100} and types/internal/convert.go),
 * but as a static table instead of converters registered by init().
 *
 * Versions fall into three families that share a wire shape: 020 (0.1.0,
 * 0.2.0), 040 (0.3.0, 0.3.1, 0.4.0) and 100 (1.0.0, 1.1.0; the current Result).
 * Within a family a conversion is a copy with the version changed. Between
 * families only adjacent hops exist (020 ↔ 040 ↔ 100); 020 ↔ 100 goes
 * through 040, as in Go. Plugin code only sees the current Result:
 * `parseResult` brings any version's JSON in, `resultToVersion` takes it out.
 */
import { CniCode, CniError } from '../errors.ts';
import { type NetConf, isObject } from '../conf.ts';
import { CURRENT_VERSION, type SpecVersion, isSupportedVersion } from '../version.ts';
import type { Result } from './current.ts';
import { type Result020, copy020, encode020, from040, parse020, to040 } from './v020.ts';
import { type Result040, copy040, encode040, from100, parse040, to100 } from './v040.ts';
import { copy100, encode100, parse100 } from './v100.ts';
import { type JsonObject, badField } from './wire.ts';

export type Family = '020' | '040' | '100';

/** Which wire shape each spec version uses. */
export const FAMILY_OF: Readonly<Record<SpecVersion, Family>> = {
  '0.1.0': '020',
  '0.2.0': '020',
  '0.3.0': '040',
  '0.3.1': '040',
  '0.4.0': '040',
  '1.0.0': '100',
  '1.1.0': '100',
};

interface FamilyResult {
  '020': Result020;
  '040': Result040;
  '100': Result;
}

type Parsers = { readonly [F in Family]: (json: JsonObject, version: string) => FamilyResult[F] };
type Encoders = { readonly [F in Family]: (result: FamilyResult[F]) => JsonObject };
type ConverterRow<F extends Family> = { readonly [T in Family]: (result: FamilyResult[F], version: string) => FamilyResult[T] };
type Converters = { readonly [F in Family]: ConverterRow<F> };

const PARSERS: Parsers = { '020': parse020, '040': parse040, '100': parse100 };
const ENCODERS: Encoders = { '020': encode020, '040': encode040, '100': encode100 };

/** Every (from family, to family) pair; the multi-hop ones spelled out. */
const CONVERTERS: Converters = {
  '020': {
    '020': copy020,
    '040': to040,
    '100': (r, v) => to100(to040(r, '0.4.0'), v),
  },
  '040': {
    '020': from040,
    '040': copy040,
    '100': to100,
  },
  '100': {
    '020': (r, v) => from040(from100(r, '0.4.0'), v),
    '040': from100,
    '100': copy100,
  },
};

function familyOf(version: string, message: () => string): Family {
  if (!isSupportedVersion(version)) throw new CniError(CniCode.IncompatibleCNIVersion, message());
  return FAMILY_OF[version];
}

function convert<F extends Family, T extends Family>(from: F, to: T, result: FamilyResult[F], version: string): FamilyResult[T] {
  const row: ConverterRow<F> = CONVERTERS[from];
  return row[to](result, version);
}

function parseAndConvert<F extends Family, T extends Family>(from: F, fromVersion: string, json: JsonObject, to: T, toVersion: string): FamilyResult[T] {
  return convert(from, to, PARSERS[from](json, fromVersion), toVersion);
}

function encode<T extends Family>(to: T, result: FamilyResult[T]): JsonObject {
  return ENCODERS[to](result);
}

/**
 * The version a result JSON claims: its `cniVersion`, or when that is absent
 * or empty `fallbackVersion` (what libcni assumes for a plugin's output and
 * for prevResult: the config's version), else "0.1.0" (the 0.1.0 rule).
 */
export function resultVersionOf(json: JsonObject, fallbackVersion?: string): string {
  const v = json['cniVersion'];
  if (v === undefined || v === null || v === '') return fallbackVersion !== undefined && fallbackVersion !== '' ? fallbackVersion : '0.1.0';
  if (typeof v !== 'string') throw badField('cniVersion', 'a string', v);
  return v;
}

/**
 * The JSON to print for spec `version`, as the reference prints it. Throws
 * CniError code 1 for a version we do not know, and code 999 `cannot convert:
 * no valid IP addresses` for 0.1.0/0.2.0 when the result has no address.
 */
export function resultToVersion(result: Result, version: string): JsonObject {
  const to = familyOf(version, () => `no converter for CNI result version ${CURRENT_VERSION} to ${version}`);
  return encode(to, convert('100', to, result, version));
}

/**
 * Any version's result JSON (a delegate's output, a prevResult, a cached
 * result) as the current Result, validated: a wrong shape is code 6 naming the
 * field, an unknown version is code 1. The Result carries `cniVersion`
 * CURRENT_VERSION. Unknown keys are ignored, as Go's decoder does.
 */
export function parseResult(json: unknown, fallbackVersion?: string): Result {
  if (!isObject(json)) throw badField('', 'a JSON object', json);
  const fromVersion = resultVersionOf(json, fallbackVersion);
  const from = familyOf(fromVersion, () => `unsupported CNI result version ${JSON.stringify(fromVersion)}`);
  return parseAndConvert(from, fromVersion, json, '100', CURRENT_VERSION);
}

/**
 * A result JSON of any version as the JSON of `toVersion`: what libcni does
 * with a cached result before handing it back as prevResult. Information the
 * source version cannot hold is not invented (0.2.0 → 1.1.0 has no interfaces).
 */
export function convertResult(json: unknown, toVersion: string, fallbackVersion?: string): JsonObject {
  if (!isObject(json)) throw badField('', 'a JSON object', json);
  const fromVersion = resultVersionOf(json, fallbackVersion);
  const from = familyOf(fromVersion, () => `unsupported CNI result version ${JSON.stringify(fromVersion)}`);
  const to = familyOf(toVersion, () => `no converter for CNI result version ${fromVersion} to ${toVersion}`);
  return encode(to, parseAndConvert(from, fromVersion, json, to, toVersion));
}

/**
 * `prevResult` of a config, as the current Result, or undefined when there is
 * none (absent or null). A prevResult without `cniVersion` is read as the
 * config's version. Errors keep their code, prefixed `could not parse prevResult`.
 */
export function parsePrevResult(conf: NetConf): Result | undefined {
  const prev = conf.prevResult;
  if (prev === undefined || prev === null) return undefined;
  let r: Result;
  try {
    r = parseResult(prev, conf.cniVersion);
  } catch (err) {
    throw CniError.wrap('could not parse prevResult', err);
  }
  const count = r.interfaces?.length ?? 0;
  for (const [i, ip] of (r.ips ?? []).entries()) {
    if (ip.interface !== undefined && (ip.interface < 0 || ip.interface >= count)) {
      throw new CniError(CniCode.InvalidNetworkConfig, `could not parse prevResult: ips[${i}].interface is ${ip.interface} but prevResult has ${count} interface(s)`);
    }
  }
  return r;
}
