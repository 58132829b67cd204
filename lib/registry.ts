/** The plugins this executable contains, by the name it is called by. */
import type { Plugin } from './cni/skel.ts';
import { CniCode, CniError } from './cni/errors.ts';
import { SUPPORTED_VERSIONS } from './cni/version.ts';
import { VERSION } from './build-info.ts';
import { hostLocalPlugin } from '../ipam/host-local/index.ts';
import { flannelPlugin } from '../plugins/flannel/index.ts';

/**
 * A plugin whose commands are not built yet answers VERSION like the others
 * and refuses every other command with an explicit error (never a fake success).
 */
function unbuilt(name: string): Plugin {
  const refuse = (): Promise<never> => Promise.reject(new CniError(CniCode.Internal, `${name}: this command is not implemented in cni-ts ${VERSION} yet`));
  return { name, about: `CNI plugin ${name} (cni-ts) v${VERSION}`, supportedVersions: SUPPORTED_VERSIONS, add: refuse, del: refuse, check: refuse, gc: refuse, status: refuse };
}

export const PLUGINS: ReadonlyMap<string, Plugin> = new Map<string, Plugin>([
  ['bridge', unbuilt('bridge')],
  ['flannel', flannelPlugin],
  ['host-local', hostLocalPlugin],
]);

/** What `cni` prints when called by its own name. */
export function banner(): string {
  return `cni-ts ${VERSION}: CNI plugins in one executable (CNI spec ${SUPPORTED_VERSIONS.join(', ')})\nplugins: ${[...PLUGINS.keys()].join(', ')}\nRun it through a link named after a plugin (or as "cni <plugin>") with CNI_COMMAND set.\n`;
}
