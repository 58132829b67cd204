/** `cni version` (also `cni --version`): the one version line of lib/build-info.ts on stdout. */
import { writeFd } from '../lib/cni/main.ts';
import { versionLine } from '../lib/build-info.ts';

export function version(argv: readonly string[], usage: string): number {
  if (argv.length > 0) {
    writeFd(2, `cni: version takes no arguments\n${usage}`);
    return 2;
  }
  writeFd(1, versionLine());
  return 0;
}
