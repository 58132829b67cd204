/** Runs iptables/nft with an argument array (never a shell string), capturing the outcome. */
import { native } from '../native/loader.ts';
import { withErrnoCode } from '../native/errno.ts';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Injectable so the backends can be unit-tested against a fake. */
export type CommandRunner = (cmd: string, args: readonly string[], input?: string) => Promise<CommandResult>;

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`running [${cmd} ${args.join(' ')}]: exit status ${result.code}: ${result.stderr.trim()}`);
  }
}

/** No iptables/nft run may take longer than this (they take milliseconds; `-w` waits for the xtables lock). */
export const COMMAND_TIMEOUT_MS = 60_000;

/**
 * Runs the program through the native addon's posix_spawn: unlike
 * child_process, which forks the whole ~70 MB Node process (4-7 ms per run),
 * it costs about what the program itself does. Resolves for any exit status;
 * rejects only when the program cannot be started (ENOENT...), had to be
 * killed after COMMAND_TIMEOUT_MS, or could not be waited for (its exit
 * status unknown: never taken for success).
 */
export const execRunner: CommandRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const envp: string[] = [];
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) envp.push(`${k}=${v}`);
    try {
      native().spawn(cmd, [cmd, ...args], envp, input === undefined ? null : Buffer.from(input), COMMAND_TIMEOUT_MS, (status, signal, stdout, stderr, timedOut, waitErrno) => {
        if (timedOut) reject(new Error(`running [${cmd} ${args.join(' ')}]: no exit within ${COMMAND_TIMEOUT_MS} ms, killed`));
        else if (waitErrno !== 0) reject(new Error(`running [${cmd} ${args.join(' ')}]: waiting for it failed (errno ${waitErrno}): its outcome is unknown`));
        else resolve({ code: status >= 0 ? status : 128 + signal, stdout, stderr });
      });
    } catch (err) {
      // the program could not be started (ENOENT: not installed); keep the code
      const e = withErrnoCode(err) as Error & { code?: string };
      reject(Object.assign(new Error(`cannot run ${cmd}: ${e.message}`, { cause: err }), { code: e.code }));
    }
  });
