/** The plugins this executable contains, by the name it is called by. */
import type { Plugin } from './cni/skel.ts';
import { SUPPORTED_VERSIONS } from './cni/version.ts';
import { VERSION } from './build-info.ts';
import { hostLocalPlugin } from '../ipam/host-local/index.ts';
import { bridgePlugin } from '../plugins/bridge/index.ts';
import { flannelPlugin } from '../plugins/flannel/index.ts';
import { loopbackPlugin } from '../plugins/loopback/index.ts';
import { portmapPlugin } from '../plugins/portmap/index.ts';

export const PLUGINS: ReadonlyMap<string, Plugin> = new Map<string, Plugin>([
  ['bridge', bridgePlugin],
  ['flannel', flannelPlugin],
  ['host-local', hostLocalPlugin],
  ['loopback', loopbackPlugin],
  ['portmap', portmapPlugin],
]);

/** What `cni` prints when called by its own name. */
export function banner(): string {
  return `cni-ts ${VERSION}: CNI plugins in one executable (CNI spec ${SUPPORTED_VERSIONS.join(', ')})\nplugins: ${[...PLUGINS.keys()].join(', ')}\nRun it through a link named after a plugin (or as "cni <plugin>") with CNI_COMMAND set.\n`;
}
