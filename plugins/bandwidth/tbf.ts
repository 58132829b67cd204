/**
 * The reference's numbers, pure: the ifb name and the tbf parameters
 * (containernetworking/plugins plugins/meta/bandwidth ifb_creator.go), with
 * Go's float64 arithmetic and its float-to-uint32 conversion on amd64, which
 * converts through int64 and keeps the low 32 bits. That conversion wraps for
 * the bursts containerd's CRI plugin sends (4294967295 bits), and the same
 * input must give the kernel the same numbers as the Go plugin does.
 */
import { sha512Hex } from '../../lib/sha512.ts';

export const IFB_PREFIX = 'bwp';
const MAX_IFB_LENGTH = 15;
/** The reference's fixed latency for the tbf limit. */
const LATENCY_MS = 25;
/** netlink.TIME_UNITS_PER_SEC */
const TIME_UNITS_PER_SEC = 1_000_000;

/** "bwp" + the first 12 hex digits of sha512(network name + container id). */
export function ifbName(network: string, containerId: string): string {
  return `${IFB_PREFIX}${sha512Hex(network + containerId)}`.slice(0, MAX_IFB_LENGTH);
}

/** An ifb name the reference's rule can produce. */
export function isIfbName(name: string): boolean {
  return /^bwp[0-9a-f]{12}$/.test(name);
}

const TWO_63 = 2 ** 63;

/**
 * Go's uint32(f) for a float64 on amd64: CVTTSD2SQ to int64 (NaN and values
 * out of the int64 range give 0x8000000000000000), then the low 32 bits.
 */
export function goFloatToUint32(f: number): number {
  if (Number.isNaN(f) || f >= TWO_63 || f < -TWO_63) return 0;
  return Number(BigInt(Math.trunc(f)) & 0xffffffffn);
}

/**
 * The packet scheduler's ticks per microsecond from /proc/net/psched, as
 * vishvananda/netlink computes it (0 when the text is unusable, as there).
 */
export function tickInUsec(psched: string): number {
  const parts = psched.trim().split(' ');
  if (parts.length < 4) return 0;
  const vals: number[] = [];
  for (const p of parts.slice(0, 4)) {
    if (!/^[0-9a-fA-F]{1,8}$/.test(p)) return 0;
    vals.push(parseInt(p, 16));
  }
  const us2t = vals[1]!;
  const clockRes = vals[2]!;
  // "compatibility" in vishvananda/netlink's initClock
  const t2us = clockRes === 1_000_000_000 ? us2t : vals[0]!;
  const clockFactor = clockRes / TIME_UNITS_PER_SEC;
  return (t2us / us2t) * clockFactor;
}

export interface TbfNumbers {
  /** Bytes per second. */
  readonly rate: bigint;
  /** Bytes. */
  readonly limit: number;
  /** Scheduler ticks. */
  readonly buffer: number;
}

/** The tbf the reference makes for a rate and a burst in bits (createTBF). */
export function tbfNumbers(rateBits: bigint, burstBits: bigint, tick: number): TbfNumbers {
  const rate = rateBits / 8n;
  const burst = Number((burstBits / 8n) & 0xffffffffn);
  const rateF = Number(rate);
  // buffer(rate, burst) = time2Tick(uint32(float64(burst) * TIME_UNITS_PER_SEC / float64(rate)))
  const time = goFloatToUint32((burst * TIME_UNITS_PER_SEC) / rateF);
  const buffer = goFloatToUint32(time * tick);
  // limit(rate, latency, burst) = uint32(float64(rate) * latency / TIME_UNITS_PER_SEC) + burst (uint32 arithmetic)
  const latency = TIME_UNITS_PER_SEC * (LATENCY_MS / 1000);
  const limit = (goFloatToUint32((rateF * latency) / TIME_UNITS_PER_SEC) + burst) >>> 0;
  return { rate, limit, buffer };
}
