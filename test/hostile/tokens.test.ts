// Tokens never leave: with HF_TOKEN set and a token in the settings file, no output of any command
// (text or --json, success or failure, with KILN_DEBUG stack traces) holds either token, or any
// 8 characters of one; the settings file stays mode 0600 through every write.
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type HubServer, startServer } from '../core/hub/helpers.js'
import { removeTempDirs, runKiln } from '../helpers/cli.js'
import { sandbox } from '../helpers/settings-sandbox.js'
import { run, timeoutFor } from './helpers.js'

const ENV_TOKEN = 'hf_EnvSecretQ7x9LmZp2Kd4Wv'
const FILE_TOKEN = 'hf_FileSecretR3t8NbYc6Jh1Xs'
const NEW_TOKEN = 'hf_NewSecretK5w2PqDz8Gf7Ma'
// No HTTP header can carry U+20AC: refused with a clear error, never echoed.
const BAD_TOKEN = 'hf_BadSecret\u20acV4n9HsLe2Tq6Ru'
const RIGHT_TOKEN = 'hf_theOnlyRightToken000000'
const TOKENS = [ENV_TOKEN, FILE_TOKEN, NEW_TOKEN, ...BAD_TOKEN.split('\u20ac'), RIGHT_TOKEN]

let server: HubServer

beforeAll(async () => {
  server = await startServer()
  server.addRepo({ name: 'org/public', files: [{ path: 'config.json', content: '{}' }] })
  server.addRepo({
    name: 'org/gated',
    gated: RIGHT_TOKEN,
    files: [{ path: 'a.txt', content: 'a' }],
  })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

/** Fails naming the command if `text` holds a token or 8 characters in a row of one ("hf_" aside). */
function expectNoToken(label: string, text: string): void {
  for (const token of TOKENS) {
    const secret = token.replace(/^hf_/, '')
    for (let i = 0; i + 8 <= secret.length; i++) {
      const piece = secret.slice(i, i + 8)
      if (text.includes(piece)) throw new Error(`${label}: output holds ${JSON.stringify(piece)}:\n${text}`)
    }
  }
}

function box(extra: NodeJS.ProcessEnv = {}) {
  const b = sandbox({
    HF_TOKEN: ENV_TOKEN,
    HF_ENDPOINT: server.endpoint,
    HF_HUB_CACHE: undefined,
    KILN_HUB_RETRY_BASE_MS: '10',
    KILN_HUB_RETRIES: '1',
    ...Object.fromEntries(['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'].map((v) => [v, ''])),
    ...extra,
  })
  b.write(`version: 1\nhub:\n  token: ${FILE_TOKEN}\n`)
  chmodSync(b.file, 0o600)
  return b
}

const COMMANDS: string[][] = [
  ['env'],
  ['env', '--json'],
  ['config', 'list'],
  ['config', 'list', '--json'],
  ['config', 'get', 'hub.token'],
  ['config', 'get', 'hub.token', '--json'],
  ['config', 'validate'],
  ['config', 'path'],
  ['download', 'org/public'],
  ['download', 'org/public', '--json'],
  ['download', 'org/public', '--dry-run'],
  ['download', 'org/gated'],
  ['download', 'org/gated', '--json'],
  ['download', 'org/missing'],
  ['download', 'org/missing', '--json'],
  ['download', 'org/public', 'nope.bin', '--json'],
  ['generate', 'hi', '-m', 'org/missing'],
  ['generate', 'hi', '-m', 'org/missing', '--json'],
  ['cache', 'ls'],
  ['cache', 'ls', '--json'],
]

describe('tokens never leave', () => {
  it(
    'in any output, with HF_TOKEN and a settings token set',
    async () => {
      for (const env of [{}, { KILN_DEBUG: '1' }, { HF_TOKEN: undefined }]) {
        const b = box(env)
        for (const args of COMMANDS) {
          const r = await runKiln(args, { env: b.env })
          expectNoToken(`kiln ${args.join(' ')} (${JSON.stringify(env)})`, r.stdout + r.stderr)
        }
      }
    },
    timeoutFor(10),
  )

  it(
    'when the token itself is malformed, and in a process of its own',
    async () => {
      // In a process of its own too (stack traces of internal errors with KILN_DEBUG included).
      for (const extra of [{}, { HF_TOKEN: BAD_TOKEN, KILN_DEBUG: '1' }]) {
        const r = await run(['download', 'org/public', '--json'], box(extra).env)
        expectNoToken(
          `kiln download org/public --json (process, ${JSON.stringify(extra)})`,
          r.stdout + r.stderr,
        )
      }
      for (const args of [
        ['download', 'org/public'],
        ['env', '--json'],
        ['config', 'list'],
      ]) {
        const r = await runKiln(args, { env: box({ HF_TOKEN: BAD_TOKEN, KILN_DEBUG: '1' }).env })
        expectNoToken(`kiln ${args.join(' ')} (malformed token)`, r.stdout + r.stderr)
      }
      // Refused in one line that names where to fix it, not an internal error with a stack trace.
      const bad = await runKiln(['download', 'org/public'], { env: box({ HF_TOKEN: BAD_TOKEN }).env })
      expect(bad.status).toBe(1)
      expect(bad.stderr).toMatch(
        /^kiln: the Hub token holds characters an HTTP header cannot carry: check --token, HF_TOKEN/,
      )
      expect(bad.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1)
      // A line break around the token (a file saved on Windows, `echo` into HF_TOKEN) is trimmed, as
      // Python does, and the token works.
      const crlf = await runKiln(['download', 'org/gated', '--json'], {
        env: box({ HF_TOKEN: `${RIGHT_TOKEN}\r\n` }).env,
      })
      expect(crlf.status, crlf.stdout + crlf.stderr).toBe(0)
      expectNoToken('kiln download org/gated (token with CRLF)', crlf.stdout + crlf.stderr)
      // A token in the settings file that is not a string is named by its line, never shown.
      const b = box()
      b.write(`version: 1\nhub:\n  token: [${FILE_TOKEN}]\n`)
      for (const args of [
        ['config', 'list'],
        ['config', 'validate'],
        ['env', '--json'],
        ['download', 'org/public'],
      ]) {
        const r = await runKiln(args, { env: b.env })
        expectNoToken(`kiln ${args.join(' ')} (bad token type)`, r.stdout + r.stderr)
      }
    },
    timeoutFor(10),
  )

  it('when a server answers an error with the request headers in it', async () => {
    // A mirror, a proxy or a debugging echo at a mistyped HF_ENDPOINT: the body repeats the token.
    for (const status of [400, 418, 503]) {
      const echo = http.createServer((req, res) => {
        res.writeHead(status, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ error: `no ${req.headers.authorization}`, headers: req.headers }))
      })
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
      const endpoint = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
      for (const extra of [{}, { HF_TOKEN: undefined }]) {
        const b = box({ HF_ENDPOINT: endpoint, KILN_HUB_RETRIES: '0', ...extra })
        for (const args of [
          ['download', 'org/public'],
          ['download', 'org/public', '--json'],
          ['generate', 'hi', '-m', 'org/public', '--json'],
        ]) {
          const r = await runKiln(args, { env: b.env })
          expect(r.status).toBe(1)
          expectNoToken(`kiln ${args.join(' ')} (HTTP ${status} echoing headers)`, r.stdout + r.stderr)
          expect(r.stdout + r.stderr).toMatch(new RegExp(`HTTP ${status}`))
        }
      }
      await new Promise((r) => echo.close(r))
    }
  })

  it(
    'kiln config set hub.token prints no token and keeps the file 0600',
    async () => {
      const b = box()
      // A file someone made world-readable becomes private again with the first write.
      chmodSync(b.file, 0o644)
      for (const args of [
        ['config', 'set', 'hub.token', NEW_TOKEN],
        ['config', 'set', 'hub.token', NEW_TOKEN, '--json'],
        ['config', 'set', 'generate.top_k', '5'],
        ['config', 'unset', 'generate.top_k'],
      ]) {
        const r = await runKiln(args, { env: b.env })
        expect(r.status, r.stderr).toBe(0)
        expectNoToken(`kiln ${args.join(' ')}`, r.stdout + r.stderr)
        expect(statSync(b.file).mode & 0o777, args.join(' ')).toBe(0o600)
      }
      expect(readFileSync(b.file, 'utf8')).toContain(NEW_TOKEN)
      // Every other file kiln wrote that holds the token (the settings cache) is private too.
      const files = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)],
        )
      for (const f of files(b.dir)) {
        if (readFileSync(f, 'utf8').includes(NEW_TOKEN.slice(3)))
          expect(statSync(f).mode & 0o077, `${f} holds the token`).toBe(0)
      }
    },
    timeoutFor(10),
  )
})
