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
