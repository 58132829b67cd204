/** The runtime side of CNI (a libcni equivalent): config loading, the result cache, ADD/CHECK/DEL/GC/STATUS/VERSION. */
export * from './conf.ts';
export * from './cache.ts';
export * from './api.ts';
export { goMarshal, goMapValue } from './gojson.ts';
