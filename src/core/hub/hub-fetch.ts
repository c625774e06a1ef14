// A `fetch` for @huggingface/hub's API calls. It goes over the same requests as file downloads
// (http-request.ts), so the environment's proxy applies to both (Node 20's own fetch ignores
// HTTPS_PROXY); it adds the token itself (the library insists on hf_ tokens, Python does not) and
// turns failures into HubErrors before the library sees them.
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import { HubError } from './errors.js'
import { checkProxyAnswer, openRequest, readErrorBody, requestError } from './http-request.js'
import { type ErrorContext, hubErrorFromAnswer } from './hub-errors-map.js'

const TIMEOUT_MS = 60_000

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = openRequest(url, method, headers)
    // The whole answer, body included, within the timeout: API answers are small.
    req.setTimeout(TIMEOUT_MS, () =>
      req.destroy(
        new HubError('E_NETWORK', `${url.host} did not answer within ${TIMEOUT_MS / 1000} s`, true),
      ),
    )
    req.on('response', resolve)
    req.on('error', (e) => reject(requestError(e, url)))
    req.end(body)
  })
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers()
  for (const [name, value] of Object.entries(res.headers))
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v)
  const status = res.statusCode ?? 0
  const empty = status === 204 || status === 304
  if (empty) res.resume()
  const body = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
  return new Response(body, { status, statusText: res.statusMessage, headers })
}

export function hubFetch(ctx: ErrorContext, token: string | undefined): typeof fetch {
  return async (input, init) => {
    let url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    const method = (init?.method ?? 'GET').toUpperCase()
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' }
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value
    })
    const body = typeof init?.body === 'string' ? init.body : undefined
    const origin = new URL(ctx.endpoint).origin
    for (let hop = 0; ; hop++) {
      // The token is for the Hub; a redirect elsewhere must not carry it.
      if (token && url.origin === origin) headers.authorization = `Bearer ${token}`
      else delete headers.authorization
      const res = await send(url, method, headers, body)
      checkProxyAnswer(res, url)
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location && method === 'GET') {
        res.resume()
        if (hop >= 10) throw new HubError('E_HUB', `too many redirects for ${url.href}`)
        url = new URL(res.headers.location, url)
        continue
      }
      if (status < 200 || status >= 300)
        throw hubErrorFromAnswer(status, res.headers, await readErrorBody(res).catch(() => ''), ctx, token)
      return toResponse(res)
    }
  }
}
