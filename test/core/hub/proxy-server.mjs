// A real forward proxy for the proxy tests: CONNECT tunnels (https:// targets) and absolute-form
// requests (http:// targets), optionally demanding Basic credentials (407 otherwise). It logs
// what it was asked, so a test can tell which requests went through it.
import http from 'node:http'
import net from 'node:net'

export async function startProxy(opts = {}) {
  const log = [] // { method, target, auth }
  const expected = opts.credentials ? `Basic ${Buffer.from(opts.credentials).toString('base64')}` : undefined
  const allowed = (req) => !expected || req.headers['proxy-authorization'] === expected
  const sockets = new Set()
  const server = http.createServer((req, res) => {
    log.push({ method: req.method, target: req.url })
    if (!allowed(req)) {
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="test"' })
      return res.end()
    }
    const url = new URL(req.url)
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    const upstream = http.request(url, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  server.on('connect', (req, client, head) => {
    log.push({ method: 'CONNECT', target: req.url })
    if (!allowed(req)) {
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
      )
      return
    }
    const [host, port] = req.url.split(':')
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    async close() {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}
