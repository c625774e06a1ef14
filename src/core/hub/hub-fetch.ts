// A `fetch` for @huggingface/hub's API calls. It goes over the same requests as file downloads
// (http-request.ts), so the environment's proxy applies to both (Node 20's own fetch ignores
// HTTPS_PROXY); it adds the token itself (the library insists on hf_ tokens, Python does not) and
// turns failures into HubErrors before the library sees them. API answers are small: each is read
// whole, within a deadline and a size bound, before the library gets it, so a body that stalls,
// drips, breaks off or never ends is one HubError here, not an exception inside the library.
import type { ClientRequest, IncomingMessage } from 'node:http'
import { HubError } from './errors.js'
import { checkProxyAnswer, openRequest, requestError } from './http-request.js'
import { type ErrorContext, hubErrorFromAnswer, maskSecrets } from './hub-errors-map.js'

/** The default time for one API answer, headers and body (KILN_HUB_API_TIMEOUT_MS). */
export const API_TIMEOUT_MS = 60_000
/** The most an API answer may hold: a tree page or a revision's file list of a very large repo. */
export const MAX_API_BYTES = 64 << 20

interface Answer {
  res: IncomingMessage
  body: Buffer
}

function errnoOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException
  return err?.code ?? err?.message ?? String(e)
}

/**
 * One request and its whole answer, within `waitMs` (what is left of the call's `timeoutMs`);
 * redirects are answered with an empty body.
 */
function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  waitMs: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest
    try {
      req = openRequest(url, method, headers)
    } catch (e) {
      return reject(e) // a URL or proxy setting no request can be made with
    }
    let settled = false
    const fail = (e: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      reject(e)
    }
    const timer = setTimeout(
      () => fail(new HubError('E_NETWORK', `${url.host} did not answer within ${timeoutMs / 1000} s`, true)),
      waitMs,
    )
    req.on('error', (e) => fail(requestError(e, url)))
    req.on('response', (res) => {
      try {
        checkProxyAnswer(res, url)
      } catch (e) {
        return fail(e)
      }
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) {
        // Not needed: an empty one leaves the socket for the next request; any other goes with its
        // socket, rather than wait for a body a hostile server may never end.
        settled = true
        clearTimeout(timer)
        if (res.headers['content-length'] === '0') res.resume()
        else res.destroy()
        return resolve({ res, body: Buffer.alloc(0) })
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_API_BYTES)
          return fail(
            new HubError(
              'E_HUB',
              `${url.host} sent an API answer over ${MAX_API_BYTES >> 20} MB for ${url.pathname}`,
            ),
          )
        chunks.push(c)
      })
      res.on('error', (e) =>
        fail(new HubError('E_NETWORK', `the answer from ${url.host} broke off (${errnoOf(e)})`, true)),
      )
      res.on('close', () => {
        if (!res.complete)
          fail(new HubError('E_NETWORK', `the answer from ${url.host} broke off before its end`, true))
      })
      res.on('end', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve({ res, body: Buffer.concat(chunks) })
      })
    })
    req.end(body)
  })
}

function toResponse({ res, body }: Answer): Response {
  const headers = new Headers()
  for (const [name, value] of Object.entries(res.headers))
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      try {
        headers.append(name, v)
      } catch {} // a value the Headers class refuses: nothing the library reads
    }
  const status = res.statusCode ?? 0
  const empty = status === 204 || status === 304
  return new Response(empty ? null : new Uint8Array(body), { status, headers })
}

export function hubFetch(
  ctx: ErrorContext,
  token: string | undefined,
  timeoutMs: number = API_TIMEOUT_MS,
): typeof fetch {
  return (input, init) =>
    fetchOnce(ctx, token, timeoutMs, input, init).catch((e) => Promise.reject(maskSecrets(e, token)))
}

async function fetchOnce(
  ctx: ErrorContext,
  token: string | undefined,
  timeoutMs: number,
  input: Parameters<typeof fetch>[0],
  init: Parameters<typeof fetch>[1],
): Promise<Response> {
  let url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
  const method = (init?.method ?? 'GET').toUpperCase()
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity' }
  new Headers(init?.headers).forEach((value, name) => {
    headers[name] = value
  })
  const body = typeof init?.body === 'string' ? init.body : undefined
  const origin = new URL(ctx.endpoint).origin
  const asked = url.href
  // One deadline for the answer and the redirects before it: ten slow hops must not take ten times
  // the API timeout.
  const deadline = performance.now() + timeoutMs
  for (let hop = 0; ; hop++) {
    // The token is for the Hub; a redirect elsewhere must not carry it.
    if (token && url.origin === origin) headers.authorization = `Bearer ${token}`
    else delete headers.authorization
    const waitMs = Math.max(0, deadline - performance.now())
    const answer = await exchange(url, method, headers, body, timeoutMs, waitMs)
    const { res } = answer
    const status = res.statusCode ?? 0
    if (status >= 300 && status < 400 && res.headers.location && method === 'GET') {
      if (hop >= 10) throw new HubError('E_HUB', `too many redirects for ${asked}`)
      url = redirectTarget(res.headers.location, url)
      continue
    }
    if (status < 200 || status >= 300)
      throw hubErrorFromAnswer(status, res.headers, answer.body.subarray(0, 4096).toString(), ctx, token)
    return toResponse(answer)
  }
}

/** Where a redirect's Location leads, or a HubError when it names no http(s) URL. */
export function redirectTarget(location: string, from: URL): URL {
  let to: URL | undefined
  try {
    to = new URL(location, from)
  } catch {}
  if (!to || (to.protocol !== 'http:' && to.protocol !== 'https:'))
    throw new HubError(
      'E_HUB',
      `${from.host} redirected to ${JSON.stringify(location.slice(0, 200))}, which is no http(s) URL`,
    )
  return to
}
