// Types of flanneld.mjs (plain JavaScript so that setup-machine.sh can run it before npm ci).
export declare const FLANNELD_VERSION: string;

export type FlanneldLookup =
  | { path: string; origin: string; problem?: undefined }
  | { path?: undefined; problem: string; fatal: boolean; buildable: boolean; tools?: string; target?: string };

export declare function sharedToolsDir(): string | undefined;
export declare function cacheDirFor(toolsDir: string): string;
export declare function findFlanneld(): FlanneldLookup;
export declare function locateFlanneld(log?: (line: string) => void): FlanneldLookup;
export declare function flanneldVersion(path: string): string;
