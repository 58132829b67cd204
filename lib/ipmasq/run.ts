/** Runs iptables/nft with an argument array (never a shell string), capturing the outcome. */

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

/** Resolves for any exit status; rejects only when the program cannot be started (ENOENT...). */
export const execRunner: CommandRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    // loaded on first use: an ADD without masquerade never runs a program
    const { execFile } = process.getBuiltinModule('node:child_process');
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        // the program could not be started (ENOENT: not installed); keep the code
        reject(Object.assign(new Error(`cannot run ${cmd}: ${err.message}`, { cause: err }), { code: err.code }));
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
