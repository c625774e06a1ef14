// Which proxy a request goes through, read from the environment as curl and Python's requests read
// it: https_proxy/HTTPS_PROXY for https:// URLs, http_proxy/HTTP_PROXY for http://, all_proxy/
// ALL_PROXY for either (lower case first). no_proxy/NO_PROXY lists hosts reached directly: "*"
// for all, a name for itself and its subdomains (a leading dot is optional), host:port for that
// port only, an IPv4 address or CIDR range.
import net from 'node:net'
import { UsageError } from '../errors.js'

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name.toLowerCase()] || env[name.toUpperCase()] || undefined
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/')
  const n = Number(bits)
  if (!net.isIPv4(ip) || !net.isIPv4(base) || !Number.isInteger(n) || n < 0 || n > 32) return false
  const mask = n === 0 ? 0 : 2 ** 32 - 2 ** (32 - n)
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(base) & mask) >>> 0
}

/** True when NO_PROXY says `target` is reached directly. */
export function bypassesProxy(target: URL, env: NodeJS.ProcessEnv = process.env): boolean {
  const list = envValue(env, 'no_proxy')
  if (!list) return false
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    if (entry.includes('/')) {
      if (inCidr(host, entry)) return true
      continue
    }
    // host:port, but not a bare IPv6 address
    const m = /^(.*):(\d+)$/.exec(entry)
    const [name, onlyPort] = m && !net.isIPv6(entry) ? [m[1], m[2]] : [entry, undefined]
    if (onlyPort && onlyPort !== port) continue
    const bare = name.replace(/^\*?\./, '').replace(/^\[|\]$/g, '')
    if (host === bare || host.endsWith(`.${bare}`)) return true
  }
  return false
}

/** The proxy for `target`, or undefined to connect directly. */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const scheme = target.protocol === 'https:' ? 'https_proxy' : 'http_proxy'
  const raw = envValue(env, scheme) ?? envValue(env, 'all_proxy')
  if (!raw || bypassesProxy(target, env)) return undefined
  const name = envValue(env, scheme) ? scheme.toUpperCase() : 'ALL_PROXY'
  let proxy: URL
  try {
    // "proxy:3128" means http://proxy:3128, as curl and requests read it.
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`)
  } catch {
    throw new UsageError(`${name} is not a URL: ${raw}`)
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
    throw new UsageError(
      `${name} is a ${proxy.protocol.slice(0, -1)} proxy; kiln reaches the Hub through http:// and https:// proxies`,
    )
  return proxy
}

/** The Proxy-Authorization header for credentials in the proxy's URL (user:password@host). */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined
  const user = decodeURIComponent(proxy.username)
  const password = decodeURIComponent(proxy.password)
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

/** The proxy as messages show it: no credentials. */
export function proxyLabel(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`
}
