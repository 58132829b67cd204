/**
 * CNI error codes and the one error class that crosses the protocol boundary.
 * Codes 1-99 are the spec's (plus the Go skel's 8 and 999); plugin code throws
 * CniError where the code matters and plain errors otherwise (they become 999).
 */
export const CniCode = {
  IncompatibleCNIVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironmentVariables: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetNS: 8,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimitedConnectivity: 51,
  Internal: 999,
} as const;
/** One of CniCode's values, or a plugin's own code (100 and up). */
export type CniCode = number;

/** The wire shape of an error: what a plugin prints on stdout before exiting non-zero. */
export interface CniErrorJson {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

export class CniError extends Error {
  override readonly name = 'CniError';
  readonly code: CniCode;
  readonly msg: string;
  readonly details: string;

  constructor(code: CniCode, msg: string, details = '', options?: { cause?: unknown }) {
    super(details === '' ? msg : `${msg}; ${details}`, options);
    this.code = code;
    this.msg = msg;
    this.details = details;
  }

  /** The reference prints `code`, `msg` and, only when non-empty, `details`. */
  toJSON(): CniErrorJson {
    return this.details === '' ? { code: this.code, msg: this.msg } : { code: this.code, msg: this.msg, details: this.details };
  }

  /** Wraps anything thrown into a CniError: CniErrors pass through, the rest become code 999. */
  static from(err: unknown): CniError {
    if (err instanceof CniError) return err;
    const fs = fromFsError(err);
    if (fs !== undefined) return fs;
    if (err instanceof Error) return new CniError(CniCode.Internal, err.message, '', { cause: err });
    return new CniError(CniCode.Internal, String(err), '', { cause: err });
  }

  /** Prefixes the message (like Go's fmt.Errorf("ctx: %v", err)) and keeps the code. */
  static wrap(prefix: string, err: unknown): CniError {
    const e = CniError.from(err);
    return new CniError(e.code, `${prefix}: ${e.msg}`, e.details, { cause: err });
  }
}

/** Errors from fs/os calls carry a string `code` such as 'ENOENT'. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Errno codes of a path the configuration or the node gave us, not of a bug: code 5 with the path. */
const PATH_ERRNOS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'file exists',
  ENAMETOOLONG: 'file name too long',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ELOOP: 'too many levels of symbolic links',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/**
 * A Node fs error (it has `code`, `syscall` and `path`) or a lib/mkdir error,
 * as code 5 worded like Go's *PathError ("open /x/lock: is a directory");
 * undefined for anything else.
 */
export function fromFsError(err: unknown): CniError | undefined {
  if (!(err instanceof Error) || typeof err !== 'object') return undefined;
  const e = err as Error & { code?: unknown; syscall?: unknown; path?: unknown };
  if (e.name === 'MkdirError' && typeof e.code === 'string') {
    return new CniError(CniCode.IOFailure, e.message, 'check the data directory in the network config and that the parent directories exist', { cause: err });
  }
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string' || typeof e.path !== 'string') return undefined;
  const words = PATH_ERRNOS[e.code];
  if (words === undefined) return undefined;
  return new CniError(CniCode.IOFailure, `${e.syscall} ${e.path}: ${words}`, '', { cause: err });
}
