/** A plugin run's inputs and outputs, injected so one code path serves a process, a delegation and the tests. */
import type { EnvLike } from './env.ts';

export interface PluginIO {
  env: EnvLike;
  /** Reads all of stdin; a rejection becomes a code-5 error. */
  readStdin(): Promise<Buffer>;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
}
