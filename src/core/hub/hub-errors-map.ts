// Turns a Hub error answer (status + X-Error-Code / X-Error-Message) or a socket failure into one
// clear HubError that names the repo, revision or file and says what to do about it.
import type { IncomingHttpHeaders } from 'node:http'
import { option } from '../errors.js'
import { HubError, type HubErrorCode } from './errors.js'
import type { RepoRef } from './repo-id.js'

export interface ErrorContext {
  repo: RepoRef
  endpoint: string
  revision?: string
  file?: string
  tokenGiven: boolean
}

const TOKEN_HINT = `pass ${option('token')}, set HF_TOKEN, or save one in $HF_HOME/token`

function repoLabel(ctx: ErrorContext): string {
  return ctx.repo.type === 'model' ? ctx.repo.name : `${ctx.repo.type} ${ctx.repo.name}`
}

/**
 * The server's own words with every token taken out. A server (a mirror, a proxy, a debugging echo
 * at a mistyped HF_ENDPOINT) may answer with the request's headers in its error body, and the
 * message would carry the token to the terminal, --json output and logs: the token sent, any
 * `Bearer` value and anything shaped like a Hugging Face token are masked.
 */
export function withoutSecrets(text: string, token?: string): string {
  // Any case: a host name that repeats the token has it in lower case.
  let out = token
    ? text.replace(new RegExp(token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), '****')
    : text
  out = out
    .replace(/(Bearer(?:\s|%20)+)[^\s"',;}]+/gi, '$1****')
    // Not only after a word boundary: a URL may carry one percent-encoded (`%20hf_…`).
    .replace(/(?<![A-Za-z])hf_[A-Za-z0-9]{4,}/g, 'hf_****')
  return out
}

/**
 * `e` with the token masked in its message: messages quote what a server sent (a redirect's target,
 * a next-page link, an error body), and a hostile or debugging server may echo the request's token.
 */
export function maskSecrets(e: unknown, token?: string): unknown {
  if (!(e instanceof HubError)) return e
  const masked = withoutSecrets(e.message, token)
  return masked === e.message ? e : new HubError(e.code as HubErrorCode, masked, e.retryable)
}

export function hubErrorFromStatus(
  status: number,
  errorCode: string | null | undefined,
  errorMessage: string | null | undefined,
  ctx: ErrorContext,
  token?: string,
): HubError {
  const repo = repoLabel(ctx)
  const rev = ctx.revision ?? 'main'
  if (errorCode === 'GatedRepo' || (status === 403 && errorCode !== 'RepoNotFound')) {
    return new HubError(
      'E_AUTH',
      ctx.tokenGiven
        ? `${repo} is gated or private and your token was refused: request access on the Hub page, or use a token that has it`
        : `${repo} is gated or private: request access on the Hub page, then ${TOKEN_HINT}`,
    )
  }
  if (errorCode === 'RepoNotFound' || (status === 401 && !errorCode)) {
    return new HubError(
      'E_REPO_NOT_FOUND',
      ctx.tokenGiven
        ? `repository ${repo} not found on ${ctx.endpoint} (or your token cannot see it)`
        : `repository ${repo} not found on ${ctx.endpoint} (if it is private or gated, ${TOKEN_HINT})`,
    )
  }
  if (errorCode === 'RevisionNotFound')
    return new HubError('E_REVISION_NOT_FOUND', `revision "${rev}" not found in ${repo}`)
  if (errorCode === 'EntryNotFound' || (status === 404 && ctx.file))
    return new HubError('E_ENTRY_NOT_FOUND', `file "${ctx.file ?? '?'}" not found in ${repo} at ${rev}`)
  if (status === 404)
    return new HubError('E_REPO_NOT_FOUND', `repository ${repo} not found on ${ctx.endpoint}`)
  const detail = errorMessage
    ? `: ${withoutSecrets(errorMessage, token).replace(/\s+/g, ' ').slice(0, 200)}`
    : ''
  // 5xx and 429 are the server's trouble of the moment: worth a retry.
  const retryable = status >= 500 || status === 429 || status === 408
  return new HubError('E_HUB', `${ctx.endpoint} answered HTTP ${status} for ${repo}${detail}`, retryable)
}

/** A connection-level failure (refused, reset, DNS, TLS). */
export function networkError(e: unknown, url: string): HubError {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
  const code = err?.cause?.code ?? err?.code ?? err?.cause?.message ?? err?.message ?? 'error'
  let host = url
  try {
    host = new URL(url).host
  } catch {}
  // Node's HTTP parser refused the answer: the server was reached, and spoke no valid HTTP.
  if (typeof code === 'string' && code.startsWith('HPE_'))
    return new HubError('E_NETWORK', `${host} sent an answer that is not valid HTTP (${code})`, true)
  return new HubError(
    'E_NETWORK',
    `cannot reach ${host} (${code}); check the network, or use ${option('offline')} to work from the cache`,
    true,
  )
}

/** A Hub answer's failure: its X-Error-Code / X-Error-Message headers, else its body. */
export function hubErrorFromAnswer(
  status: number,
  headers: IncomingHttpHeaders,
  body: string,
  ctx: ErrorContext,
  /** The token the request carried, masked wherever the answer repeats it. */
  token?: string,
): HubError {
  const code = headers['x-error-code']
  const message = headers['x-error-message']
  return hubErrorFromStatus(
    status,
    typeof code === 'string' ? code : undefined,
    typeof message === 'string' ? message : body,
    ctx,
    token,
  )
}
