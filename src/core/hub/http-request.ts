// Opening one request to the Hub or its file server, directly or through the proxy the environment
// names (proxy.ts): https:// targets through a CONNECT tunnel (the proxy sees only host:port),
// http:// targets in absolute form. Keep-alive agents are shared by every request to the same place.
import http, { type ClientRequest, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'
import { HubError } from './errors.js'
import { networkError } from './hub-errors-map.js'
import { proxyAuthorization, proxyFor, proxyLabel } from './proxy.js'

const SOCKETS = 64
const CONNECT_TIMEOUT_MS = 30_000

const direct = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: SOCKETS }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: SOCKETS }),
}

function errnoOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException
  return err?.code ?? err?.message ?? 'error'
}

/** The proxy's request function and where to send it. */
function toProxy(proxy: URL) {
  return {
    request: proxy.protocol === 'https:' ? https.request : http.request,
    where: {
      protocol: proxy.protocol,
      hostname: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port || undefined,
    },
  }
}

/** https:// targets: each connection is a CONNECT tunnel through the proxy, then TLS to the target. */
class TunnelAgent extends https.Agent {
  constructor(private readonly proxy: URL) {
    super({ keepAlive: true, maxSockets: SOCKETS })
  }

  // Called by the agent for each new connection; answering through `done` makes it asynchronous.
  override createConnection(
    options: http.RequestOptions,
    done?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    const fail = (e: Error) => done?.(e, undefined as unknown as Duplex)
    const target = `${options.host}:${options.port}`
    const label = proxyLabel(this.proxy)
    const auth = proxyAuthorization(this.proxy)
    const { request, where } = toProxy(this.proxy)
    const req = request({
      ...where,
      method: 'CONNECT',
      path: target,
      headers: { Host: target, ...(auth && { 'Proxy-Authorization': auth }) },
      agent: false,
    })
    req.setTimeout(CONNECT_TIMEOUT_MS, () =>
      req.destroy(new HubError('E_NETWORK', `the proxy ${label} did not answer within 30 s`, true)),
    )
    req.once('connect', (res: IncomingMessage, socket: net.Socket) => {
      req.setTimeout(0)
      if (res.statusCode !== 200) {
        socket.destroy()
        return fail(proxyRefusal(res.statusCode ?? 0, res.statusMessage, this.proxy, target))
      }
      done?.(null, tls.connect({ ...(options as tls.ConnectionOptions), socket }))
    })
    req.once('error', (e) =>
      fail(
        e instanceof HubError
          ? e
          : new HubError(
              'E_NETWORK',
              `cannot reach the proxy ${label} (${errnoOf(e)}); check HTTPS_PROXY`,
              true,
            ),
      ),
    )
    req.end()
    return undefined
  }
}

function proxyRefusal(status: number, text: string | undefined, proxy: URL, target: string): HubError {
  const what = `the proxy ${proxyLabel(proxy)} refused ${target} (HTTP ${status}${text ? ` ${text}` : ''})`
  if (status === 407)
    return new HubError(
      'E_AUTH',
      `${what}: give its credentials in the proxy URL (http://user:password@host:port)`,
    )
  return new HubError('E_NETWORK', what, status >= 500)
}

const tunnels = new Map<string, TunnelAgent>()
const forwards = new Map<string, http.Agent>()

function agentFor<A>(cache: Map<string, A>, proxy: URL, make: () => A): A {
  let agent = cache.get(proxy.href)
  if (!agent) {
    agent = make()
    cache.set(proxy.href, agent)
  }
  return agent
}

/** Opens (but does not end) a request for `url`, through the environment's proxy when it names one. */
export function openRequest(url: URL, method: string, headers: Record<string, string>): ClientRequest {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new HubError('E_HUB', `unsupported URL ${url.href}`)
  const proxy = proxyFor(url)
  if (!proxy)
    return (url.protocol === 'https:' ? https : http).request(url, {
      method,
      headers,
      agent: direct[url.protocol],
    })
  if (url.protocol === 'https:')
    return https.request(url, {
      method,
      headers,
      agent: agentFor(tunnels, proxy, () => new TunnelAgent(proxy)),
    })
  // http:// through the proxy: the request line carries the whole URL.
  const auth = proxyAuthorization(proxy)
  const { request, where } = toProxy(proxy)
  const Agent = proxy.protocol === 'https:' ? https.Agent : http.Agent
  return request({
    ...where,
    method,
    path: url.href,
    headers: { ...headers, Host: url.host, ...(auth && { 'Proxy-Authorization': auth }) },
    agent: agentFor(forwards, proxy, () => new Agent({ keepAlive: true, maxSockets: SOCKETS })),
  })
}

/** A request's failure as one line, naming the proxy when the request went through one. */
export function requestError(e: unknown, url: URL): HubError {
  if (e instanceof HubError) return e
  const proxy = proxyFor(url)
  if (!proxy) return networkError(e, url.href)
  return new HubError(
    'E_NETWORK',
    `cannot reach ${url.host} through the proxy ${proxyLabel(proxy)} (${errnoOf(e)}); check ${url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY'}`,
    true,
  )
}

/** A 407 from a forwarding proxy (http:// targets) as the same error a tunnel's refusal gives. */
export function checkProxyAnswer(res: IncomingMessage, url: URL): void {
  const proxy = res.statusCode === 407 ? proxyFor(url) : undefined
  if (proxy) throw proxyRefusal(407, res.statusMessage, proxy, url.host)
}

/**
 * The start of an error answer's body: at most 4 kB, within `timeoutMs` (then the answer is dropped:
 * a body that drips or never ends must not hold the error back).
 */
export function readErrorBody(res: IncomingMessage, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = () => {
      clearTimeout(timer)
      res.removeListener('data', onData)
      resolve(Buffer.concat(chunks).subarray(0, 4096).toString())
    }
    const onData = (c: Buffer) => {
      chunks.push(c)
      size += c.length
      if (size >= 4096) {
        done()
        res.destroy()
      }
    }
    const timer = setTimeout(() => {
      done()
      res.destroy()
    }, timeoutMs)
    res.on('data', onData)
    res.once('end', done)
    res.once('error', done)
    res.once('close', done)
  })
}
