// `kiln finetune --data org/name:split` against the local Hub stand-in: the split is fetched into the
// cache with its progress on stderr, the checkpoint records the repo and commit, and a resume with
// other data, or a missing dataset, is one line.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshEnv, type HubServer, kiln, oneErrorLine, startServer } from '../core/hub/helpers.js'
import { makeTempDir, removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

let server: HubServer
let commit: string

const LINES = [
  'The license is free software and you can share it.',
  'Git is fast, and it keeps every version of a file.',
  'A small model learns the words it sees again and again.',
  'The quick brown fox jumps over the lazy dog.',
]
const jsonl = (texts: string[]) => `${texts.map((text) => JSON.stringify({ text })).join('\n')}\n`

beforeAll(async () => {
  server = await startServer()
  commit = server.addRepo({
    name: 'ds/chat',
    type: 'dataset',
    files: [
      { path: 'train.jsonl', content: jsonl(LINES) },
      { path: 'test.jsonl', content: jsonl(LINES.slice(0, 2)) },
    ],
  })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

const ARGS = ['-m', golden('llama-tiny'), '--batch-size', '2', '--seq-len', '32', '--threads', '2']

describe('kiln finetune --data ORG/NAME[:SPLIT]', () => {
  it('trains on a split fetched through the cache, and resumes only on the same data', async () => {
    const env = freshEnv(server)
    const out = path.join(makeTempDir(), 'adapter')
    const r = await kiln(
      ['finetune', ...ARGS, '--data', 'ds/chat:test', '--eval', 'ds/chat', '-o', out, '--max-steps', '2'],
      env,
      {
        timeoutMs: 120_000,
      },
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/^test\.jsonl \S+ B$/m)
    expect(r.stderr).toMatch(/^train\.jsonl \S+ B$/m)
    const snaps = path.join(env.cache, 'datasets--ds--chat', 'snapshots')
    expect(readdirSync(snaps)).toEqual([commit])
    const state = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'))
    expect(state.fingerprint.data).toBe(`ds/chat@${commit}:test`)

    const other = await kiln(
      ['finetune', ...ARGS, '--data', 'ds/chat', '-o', out, '--max-steps', '3', '--resume'],
      env,
      {
        timeoutMs: 120_000,
      },
    )
    expect(other.status).toBe(2)
    expect(oneErrorLine(other)).toContain(
      `trained with --data "ds/chat@${commit}:test", not "ds/chat@${commit}:train"`,
    )
  }, 180_000)

  it('a missing dataset repo is one line', async () => {
    const env = freshEnv(server)
    const r = await kiln(['finetune', ...ARGS, '--data', 'ds/nope', '-o', path.join(makeTempDir(), 'x')], env)
    expect(r.status).toBe(1)
    expect(oneErrorLine(r)).toMatch(/^kiln: repository dataset ds\/nope not found on /)
  })
})
