// Hub failures as typed errors with stable codes, each a single line that says what to do next.
import { KilnError } from '../errors.js'

export type HubErrorCode =
  | 'E_REPO_NOT_FOUND'
  | 'E_REVISION_NOT_FOUND'
  | 'E_ENTRY_NOT_FOUND'
  | 'E_AUTH'
  | 'E_NETWORK'
  | 'E_DISK_FULL'
  | 'E_INTEGRITY'
  | 'E_OFFLINE'
  | 'E_NOT_CACHED'
  | 'E_HUB'

export class HubError extends KilnError {
  /** Transient (connection reset, stall, 5xx): worth another attempt with Range. */
  readonly retryable: boolean
  constructor(code: HubErrorCode, message: string, retryable = false) {
    super(code, message)
    this.retryable = retryable
  }
}

/** The error kiln raises for an ENOSPC/EDQUOT from the file system. */
export function diskFullError(where: string): HubError {
  return new HubError('E_DISK_FULL', `disk full while writing ${where}: free some space and run again`)
}

export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}
