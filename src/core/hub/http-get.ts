// One GET of a file with node:http(s): redirects followed by hand so that the token never leaves the
// host it was meant for (the CDN gets no Authorization header), keep-alive sockets shared by the
// worker pool, the environment's proxy honoured (http-request.ts), and the body left as a stream
// (nothing is buffered whole).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { HubError } from './errors.js'
import { checkProxyAnswer, openRequest, readErrorBody, requestError } from './http-request.js'
import { type ErrorContext, hubErrorFromAnswer, maskSecrets, withoutSecrets } from './hub-errors-map.js'
import { redirectTarget } from './hub-fetch.js'

export interface GetResult {
  /** The body of the final (2xx) answer. */
  res: IncomingMessage
  /** Headers of the first answer (the Hub's own `resolve` answer: X-Repo-Commit, X-Linked-Etag…). */
  hubHeaders: IncomingHttpHeaders
}

function once(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = openRequest(url, 'GET', headers)
    req.on('response', (res) => {
      req.setTimeout(0) // from here the body's watchdog (fetch-blob.ts) takes over
      resolve(res)
    })
    // Until the answer's headers arrive; the body has its own watchdog (fetch-blob.ts).
    req.setTimeout(timeoutMs, () =>
      req.destroy(new HubError('E_NETWORK', `${url.host} did not answer within ${timeoutMs / 1000} s`, true)),
    )
    req.on('error', (e) => reject(requestError(e, url)))
    req.end()
  })
}

type GetOptions = { token?: string; headers?: Record<string, string>; timeoutMs: number; ctx: ErrorContext }

export function hubGet(url: string, opts: GetOptions): Promise<GetResult> {
  return getFollowing(url, opts).catch((e) => Promise.reject(maskSecrets(e, opts.token)))
}

async function getFollowing(url: string, opts: GetOptions): Promise<GetResult> {
  let current = new URL(url)
  const authHost = current.host
  let hubHeaders: IncomingHttpHeaders | undefined
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...opts.headers }
    // The token is for the Hub; a redirect to another host (the CDN) must not carry it.
    if (opts.token && current.host === authHost) headers.Authorization = `Bearer ${opts.token}`
    const res = await once(current, headers, opts.timeoutMs)
    checkProxyAnswer(res, current)
    hubHeaders ??= res.headers
    const status = res.statusCode ?? 0
    if (status >= 300 && status < 400 && res.headers.location) {
      // An empty body leaves the socket for the next request; any other goes with its socket, rather
      // than wait for a body a hostile server may never end.
      if (res.headers['content-length'] === '0') res.resume()
      else res.destroy()
      current = redirectTarget(res.headers.location, current)
      continue
    }
    if (status >= 200 && status < 300) return { res, hubHeaders }
    const body = await readErrorBody(res, opts.timeoutMs)
    if (current.host !== authHost) {
      const retryable = status >= 500 || status === 429 || status === 408
      // Masked as the Hub's own answers are (hub-errors-map.ts): a server may echo what it was sent.
      const detail = withoutSecrets(body, opts.token).replace(/\s+/g, ' ').slice(0, 200)
      throw new HubError(
        'E_HUB',
        `file server ${current.host} answered HTTP ${status}${detail ? `: ${detail}` : ''}`,
        retryable,
      )
    }
    throw hubErrorFromAnswer(status, res.headers, body, opts.ctx, opts.token)
  }
  throw new HubError('E_HUB', `too many redirects for ${url}`)
}
