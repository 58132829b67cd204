/**
 * The flannel meta-plugin: reads flanneld's node lease (subnet.env), renders
 * the delegate config the reference renders (bridge + host-local by default)
 * and delegates to it; in-process when the delegate on CNI_PATH is this
 * executable. A drop-in for flannel-io/cni-plugin; where it differs on
 * purpose is listed in commands.ts and README.md.
 */
import { definePlugin } from '../../lib/cni/plugin.ts';
import type { Plugin } from '../../lib/cni/skel.ts';
import { add, check, del, gc, status } from './commands.ts';

export const flannelPlugin: Plugin = definePlugin('flannel', { add, del, check, gc, status });
