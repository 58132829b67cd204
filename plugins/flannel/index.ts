/**
 * The flannel meta-plugin: reads flanneld's node lease (subnet.env), renders
 * the delegate config the reference renders (bridge + host-local by default)
 * and delegates to it; in-process when the delegate on CNI_PATH is this
 * executable. A drop-in for flannel-io/cni-plugin; where it differs on
 * purpose is listed in commands.ts and README.md.
 */
import { VERSION } from '../../lib/build-info.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';
import { add, check, del, gc, status } from './commands.ts';

export const flannelPlugin: Plugin = {
  name: 'flannel',
  about: `CNI plugin flannel (cni-ts) v${VERSION}`,
  supportedVersions: SUPPORTED_VERSIONS,
  add,
  del,
  check,
  gc,
  status,
};
