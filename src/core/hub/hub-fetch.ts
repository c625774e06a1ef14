// A `fetch` for @huggingface/hub's API calls: it adds the token itself (the library insists on hf_
// tokens, Python does not) and turns failures into HubErrors before the library sees them.
import { HubError } from './errors.js'
import { type ErrorContext, hubErrorFromStatus, networkError } from './hub-errors-map.js'

export function hubFetch(ctx: ErrorContext, token: string | undefined): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const headers = new Headers(init?.headers)
    if (token && new URL(url).origin === new URL(ctx.endpoint).origin)
      headers.set('Authorization', `Bearer ${token}`)
    let res: Response
    try {
      res = await fetch(input, { ...init, headers, signal: AbortSignal.timeout(60_000) })
    } catch (e) {
      if ((e as Error)?.name === 'TimeoutError')
        throw new HubError('E_NETWORK', `${new URL(url).host} did not answer within 60 s`, true)
      throw networkError(e, url)
    }
    if (!res.ok) {
      let message = res.headers.get('X-Error-Message')
      if (!message) message = await res.text().catch(() => '')
      throw hubErrorFromStatus(res.status, res.headers.get('X-Error-Code'), message, ctx)
    }
    return res
  }
}
