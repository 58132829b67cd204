/**
 * The tools' command lines (`cni conformance`, `cni install`) through
 * node:util's parseArgs (strict: unknown options and stray arguments are
 * errors), with messages of our own that read the same on every runtime
 * (parseArgs' own wording differs between Node and Bun).
 */
import { parseArgs } from 'node:util';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;
type Values<S extends OptionSpec> = { [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined };

/** The values of `argv`'s `--name value`/`--name=value` options; throws "--x needs a value" or "unknown argument ..." */
export function parseOptions<S extends OptionSpec>(argv: readonly string[], spec: S): Values<S> {
  try {
    return parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false }).values as unknown as Values<S>;
  } catch (err) {
    const e = err as Error & { code?: string };
    const opt = /--?[\w-]+/.exec(e.message)?.[0];
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && opt !== undefined) throw new Error(`${opt} needs a value`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const stray = argv.find((a) => !a.startsWith('-')) ?? '';
      throw new Error(`unknown argument ${JSON.stringify(stray)}`);
    }
    throw new Error(`unknown argument ${JSON.stringify(opt ?? e.message)}`);
  }
}
