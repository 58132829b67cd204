// Stands in for `node-gyp-build` in the bundle: the netlink package asks it for
// its addon, and the addon comes out of the executable instead of the disk.
'use strict';
const { loadAddon } = require('./loader.ts');
module.exports = function nodeGypBuild() {
  return loadAddon('netlink');
};
