// kiln download behind a proxy, as curl and huggingface_hub honour one: https:// through CONNECT
// tunnels (a real HTTPS Hub and CDN with a test certificate), http:// in absolute form, NO_PROXY,
// credentials in the proxy URL, and one clear line when the proxy refuses or is not there. Each run
// is a process of its own: Node reads the test certificate (NODE_EXTRA_CA_CERTS) at start-up.
import { readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bypassesProxy, proxyFor } from '../../../src/core/hub/proxy.js'
import { freshEnv, type HubServer, kilnProcess as kiln, oneErrorLine, tinyRepoFiles } from './helpers.js'
import { startHubServer } from './hub-server.mjs'
import { type ProxyServer, startProxy } from './proxy-server.mjs'

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')
const CERT = path.join(fixtures, 'localhost-cert.pem')

describe('which requests go through a proxy', () => {
  const hub = new URL('https://huggingface.co/api/models/x')
  const cdn = new URL('https://cdn-lfs.hf.co:443/x')
  const local = new URL('http://127.0.0.1:8080/x')
  it('reads the variables curl and requests read', () => {
    expect(proxyFor(hub, { HTTPS_PROXY: 'http://p:3128' })?.href).toBe('http://p:3128/')
    expect(proxyFor(hub, { https_proxy: 'http://low:1', HTTPS_PROXY: 'http://up:2' })?.host).toBe('low:1')
    expect(proxyFor(hub, { HTTP_PROXY: 'http://p:3128' })).toBeUndefined()
    expect(proxyFor(local, { HTTP_PROXY: 'p:3128' })?.href).toBe('http://p:3128/')
    expect(proxyFor(hub, { ALL_PROXY: 'http://all:1' })?.host).toBe('all:1')
    expect(proxyFor(hub, { HTTPS_PROXY: '' })).toBeUndefined()
    expect(() => proxyFor(hub, { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(/HTTPS_PROXY is a socks5 proxy/)
  })
  it('honours NO_PROXY: *, names with their subdomains, ports, CIDR ranges', () => {
    const no = (list: string, url: URL) => bypassesProxy(url, { NO_PROXY: list })
    expect(no('*', hub)).toBe(true)
    expect(no('huggingface.co', hub)).toBe(true)
    expect(no('.hf.co', cdn)).toBe(true)
    expect(no('hf.co', cdn)).toBe(true)
    expect(no('co.uk,f.co', hub)).toBe(false)
    expect(no('huggingface.co:8443', hub)).toBe(false)
    expect(no('huggingface.co:443', hub)).toBe(true)
    expect(no('10.0.0.0/8, 127.0.0.0/8', local)).toBe(true)
    expect(no('127.0.0.2/32', local)).toBe(false)
    expect(proxyFor(local, { HTTP_PROXY: 'http://p:1', no_proxy: '127.0.0.1' })).toBeUndefined()
  })
})

describe('kiln download through a proxy', () => {
  let https: HubServer
  let http: HubServer
  let proxy: ProxyServer
  let locked: ProxyServer
  const files = tinyRepoFiles(7)
  beforeAll(async () => {
    https = await startHubServer({
      pageSize: 2,
      tls: { key: readFileSync(path.join(fixtures, 'localhost-key.pem')), cert: readFileSync(CERT) },
    })
    http = await startHubServer({ pageSize: 2 })
    for (const s of [https, http]) s.addRepo({ name: 'org/tiny', files })
    proxy = await startProxy()
    locked = await startProxy({ credentials: 'kiln user:s3cr@t' })
  })
  afterAll(async () => {
    for (const s of [https, http, proxy, locked]) await s.close()
  })

  it('tunnels https:// through CONNECT, API calls and files alike', async () => {
    const env = freshEnv(https, { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: CERT })
    const before = proxy.log.length
    const r = await kiln(['download', 'org/tiny', '--quiet'], env)
    expect(r.status, r.stderr).toBe(0)
    const asked = proxy.log.slice(before)
    const hubHost = new URL(https.endpoint).host
    const cdnHost = new URL(https.cdnUrl).host
    expect(asked.every((l) => l.method === 'CONNECT')).toBe(true)
    expect(new Set(asked.map((l) => l.target))).toEqual(new Set([hubHost, cdnHost]))
    const snapshot = r.stdout.trim()
    // Buffer.equals: vitest's deep equality walks 3 MB byte by byte.
    for (const f of files) {
      const same = readFileSync(path.join(snapshot, f.path)).equals(Buffer.from(f.content as string | Buffer))
      expect(same, f.path).toBe(true)
    }
  })

  it('sends http:// requests to the proxy in absolute form', async () => {
    const env = freshEnv(http, { http_proxy: proxy.url })
    const before = proxy.log.length
    const r = await kiln(['download', 'org/tiny', 'config.json', '--quiet'], env)
    expect(r.status, r.stderr).toBe(0)
    const asked = proxy.log.slice(before).map((l) => l.target)
    expect(asked.some((t) => t.startsWith(`${http.endpoint}/api/models/org/tiny`))).toBe(true)
    expect(asked.some((t) => t.startsWith(`${http.endpoint}/org/tiny/resolve/`))).toBe(true)
  })

  it('goes direct to hosts NO_PROXY names', async () => {
    const env = freshEnv(https, {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: 'localhost,127.0.0.1',
      NODE_EXTRA_CA_CERTS: CERT,
    })
    const before = proxy.log.length
    const r = await kiln(['download', 'org/tiny', 'config.json', '--quiet'], env)
    expect(r.status, r.stderr).toBe(0)
    expect(proxy.log.length).toBe(before)
  })

  it('sends the credentials in the proxy URL, and says what to do when there are none', async () => {
    const withAuth = new URL(locked.url)
    withAuth.username = encodeURIComponent('kiln user')
    withAuth.password = encodeURIComponent('s3cr@t')
    const ok = await kiln(
      ['download', 'org/tiny', 'config.json', '--quiet'],
      freshEnv(https, { HTTPS_PROXY: withAuth.href, NODE_EXTRA_CA_CERTS: CERT }),
    )
    expect(ok.status, ok.stderr).toBe(0)
    const refused = await kiln(
      ['download', 'org/tiny', '--quiet'],
      freshEnv(https, { HTTPS_PROXY: locked.url, NODE_EXTRA_CA_CERTS: CERT }),
    )
    expect(refused.status).toBe(1)
    expect(oneErrorLine(refused)).toMatch(
      /the proxy http:\/\/127\.0\.0\.1:\d+ refused 127\.0\.0\.1:\d+ \(HTTP 407.*credentials in the proxy URL/,
    )
    const plain = await kiln(['download', 'org/tiny', '--quiet'], freshEnv(http, { HTTP_PROXY: locked.url }))
    expect(plain.status).toBe(1)
    expect(oneErrorLine(plain)).toMatch(/HTTP 407.*credentials/)
    expect(refused.stderr).not.toContain('s3cr@t')
  })

  it('names the proxy when it cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo
        s.close(() => resolve(port))
      })
    })
    const env = freshEnv(https, {
      HTTPS_PROXY: `http://127.0.0.1:${closed}`,
      KILN_HUB_RETRY_BASE_MS: '1',
      NODE_EXTRA_CA_CERTS: CERT,
    })
    const r = await kiln(['download', 'org/tiny', '--quiet'], env, { timeoutMs: 60_000 })
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toMatch(
      new RegExp(`cannot reach the proxy http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)`),
    )
    const bad = await kiln(
      ['download', 'org/tiny'],
      freshEnv(https, { HTTPS_PROXY: 'socks5://127.0.0.1:1080' }),
    )
    expect(bad.status).toBe(2)
    expect(oneErrorLine(bad)).toMatch(
      /HTTPS_PROXY is a socks5 proxy; kiln reaches the Hub through http:\/\/ and https:\/\/ proxies/,
    )
  })
})
