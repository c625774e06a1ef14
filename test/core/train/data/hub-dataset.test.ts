// DATA as a Hub dataset id, against the local Hub stand-in: the split's files (and no others) fetched
// into `datasets--org--name`, shards read in order with errors naming the shard, README configs,
// unknown splits and repos as one line, and offline runs from the cache.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KilnError } from '../../../../src/core/errors.js'
import type { HubOptions } from '../../../../src/core/hub/config.js'
import type { DownloadEvent } from '../../../../src/core/hub/events.js'
import { resolveHubDataset } from '../../../../src/core/train/data/hub-dataset.js'
import { loadTrainData, parseDatasetArg, readDataRecords } from '../../../../src/core/train/data/index.js'
import { removeTempDirs } from '../../../helpers/cli.js'
import { freshEnv, type HubServer, startServer } from '../../hub/helpers.js'
import { goldenTokenizer } from './helpers.js'

let server: HubServer
const commits: Record<string, string> = {}

const jsonl = (texts: string[]) => `${texts.map((text) => JSON.stringify({ text })).join('\n')}\n`
const parquet = (texts: string[]) =>
  Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: texts, type: 'STRING' }] }))

beforeAll(async () => {
  server = await startServer()
  const add = (name: string, files: { path: string; content: string | Buffer }[]) => {
    commits[name] = server.addRepo({ name, type: 'dataset', files })
  }
  add('ds/parquet', [
    { path: '.gitattributes', content: '*.parquet filter=lfs\n' },
    { path: 'data/train-00000-of-00002.parquet', content: parquet(['one', 'two']) },
    { path: 'data/train-00001-of-00002.parquet', content: parquet(['three']) },
    { path: 'data/test-00000-of-00001.parquet', content: parquet(['held out']) },
  ])
  add('ds/root', [
    { path: 'README.md', content: '---\nlicense: mit\n---\n# a dataset\n' },
    { path: 'train.jsonl', content: jsonl(['a', 'b']) },
    { path: 'test.jsonl', content: jsonl(['t']) },
    { path: 'extra/notes.txt', content: 'first document\n\nsecond document\n' },
  ])
  add('ds/configs', [
    {
      path: 'README.md',
      content: [
        '---',
        'configs:',
        '- config_name: chat',
        '  default: true',
        '  data_files:',
        '  - split: train',
        '    path: corpus/part-*.jsonl',
        '  - split: validation',
        '    path: corpus/dev.jsonl',
        '- config_name: raw',
        '  data_files: raw/*.txt',
        '---',
        '# configs',
        '',
      ].join('\n'),
    },
    { path: 'corpus/part-0.jsonl', content: jsonl(['p0']) },
    { path: 'corpus/part-1.jsonl', content: jsonl(['p1']) },
    { path: 'corpus/dev.jsonl', content: jsonl(['dev']) },
    { path: 'raw/all.txt', content: 'raw text\n' },
    // Named like a split, but the card's configs win.
    { path: 'train.jsonl', content: jsonl(['not this']) },
  ])
  add('ds/unclear', [
    {
      path: 'README.md',
      content:
        '---\nconfigs:\n- config_name: a\n  data_files: a.jsonl\n- config_name: b\n  data_files: b.jsonl\n---\n',
    },
    { path: 'a.jsonl', content: jsonl(['a']) },
    { path: 'b.jsonl', content: jsonl(['b']) },
  ])
  // The offline test's own repo, so that no concurrent test makes requests for it.
  add('ds/cached', [
    { path: 'README.md', content: '# cached\n' },
    { path: 'train.jsonl', content: jsonl(['a', 'b']) },
    { path: 'test.jsonl', content: jsonl(['t']) },
  ])
  add('ds/bad-shard', [
    { path: 'data/train-00000-of-00002.jsonl', content: jsonl(['fine']) },
    { path: 'data/train-00001-of-00002.jsonl', content: '{"text": "fine"}\n{"text": oops}\n' },
  ])
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

function setup(): { hub: HubOptions; cache: string } {
  const env = freshEnv(server)
  return { hub: { endpoint: server.endpoint, cacheDir: env.cache, offline: false }, cache: env.cache }
}

/** The files of the cached snapshot of a dataset repo, relative to it. */
function snapshotFiles(cache: string, repo: string): string[] {
  const snaps = path.join(cache, `datasets--${repo.replace('/', '--')}`, 'snapshots')
  const [commit] = readdirSync(snaps)
  return (readdirSync(path.join(snaps, commit), { recursive: true }) as string[])
    .filter((f) => /\.\w+$/.test(f))
    .map((f) => f.split(path.sep).join('/'))
    .sort()
}

async function failure(p: Promise<unknown>): Promise<KilnError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(KilnError)
  expect((e as Error).message).not.toContain('\n')
  return e as KilnError
}

describe('parseDatasetArg', () => {
  it('tells dataset ids from paths', () => {
    expect(parseDatasetArg('org/name')).toEqual({ repo: 'org/name' })
    expect(parseDatasetArg('org/name@v1:test')).toEqual({ repo: 'org/name', revision: 'v1', split: 'test' })
    expect(parseDatasetArg('org/name@refs/pr/1:validation')).toEqual({
      repo: 'org/name',
      revision: 'refs/pr/1',
      split: 'validation',
    })
    expect(parseDatasetArg('org/name@v1/data/x.parquet')).toEqual({
      repo: 'org/name',
      revision: 'v1',
      file: 'data/x.parquet',
    })
    for (const path of [
      './org/name',
      '/abs/file.jsonl',
      '~/data.jsonl',
      'data/train.jsonl', // a missing local file, not a repo
      'org/name/data/x.csv',
      'org/name/../x.jsonl',
      'a/b/c',
      'name',
      'org/name:',
    ])
      expect(parseDatasetArg(path), path).toBeUndefined()
  })
})

describe.concurrent('DATA as a Hub dataset id', () => {
  it('reads the Parquet shards of data/<split>-NNNNN-of-NNNNN in order, fetching only them', async () => {
    const { hub, cache } = setup()
    const events: DownloadEvent[] = []
    const { records, hub: ds } = await readDataRecords('ds/parquet', {
      hub,
      onDownload: (e) => events.push(e),
    })
    expect(records.map((r) => r.fields.text)).toEqual(['one', 'two', 'three'])
    expect(records[2].where).toMatch(
      /datasets--ds--parquet\/snapshots\/[0-9a-f]{40}\/data\/train-00001-of-00002\.parquet row 0$/,
    )
    expect(ds).toMatchObject({
      repo: 'ds/parquet',
      revision: 'main',
      commit: commits['ds/parquet'],
      split: 'train',
    })
    expect(ds?.id).toBe(`ds/parquet@${commits['ds/parquet']}:train`)
    expect(snapshotFiles(cache, 'ds/parquet')).toEqual([
      'data/train-00000-of-00002.parquet',
      'data/train-00001-of-00002.parquet',
    ])
    expect(events.find((e) => e.type === 'plan')).toMatchObject({
      repo: 'ds/parquet',
      fetchBytes: expect.any(Number),
    })
    expect(events.at(-1)?.type).toBe('done')

    const test = await readDataRecords('ds/parquet:test', { hub })
    expect(test.records.map((r) => r.fields.text)).toEqual(['held out'])
  })

  it('reads <split>.jsonl at the root with :test, and one file by its path', async () => {
    const { hub, cache } = setup()
    const { records } = await readDataRecords('ds/root:test', { hub })
    expect(records.map((r) => r.fields.text)).toEqual(['t'])
    expect(records[0].where).toMatch(/\/test\.jsonl:1$/)
    // The card is read for its configs; train.jsonl and extra/ stay on the server.
    expect(snapshotFiles(cache, 'ds/root')).toEqual(['README.md', 'test.jsonl'])

    const one = await readDataRecords(`ds/root@${commits['ds/root']}/extra/notes.txt`, { hub })
    expect(one.records.map((r) => r.fields.text)).toEqual(['first document', 'second document'])
    expect(one.hub?.id).toBe(`ds/root@${commits['ds/root']}/extra/notes.txt`)
    expect(snapshotFiles(cache, 'ds/root')).toEqual(['README.md', 'extra/notes.txt', 'test.jsonl'])
  })

  it("follows the default config of README.md's configs, and refuses an unclear one", async () => {
    const { hub, cache } = setup()
    const train = await readDataRecords('ds/configs', { hub })
    expect(train.records.map((r) => r.fields.text)).toEqual(['p0', 'p1'])
    const dev = await readDataRecords('ds/configs:validation', { hub })
    expect(dev.records.map((r) => r.fields.text)).toEqual(['dev'])
    expect(snapshotFiles(cache, 'ds/configs')).toEqual([
      'README.md',
      'corpus/dev.jsonl',
      'corpus/part-0.jsonl',
      'corpus/part-1.jsonl',
    ])
    const e = await failure(readDataRecords('ds/unclear', { hub }))
    expect(e.message).toBe(
      "ds/unclear: README.md's configs list several (a, b) and none is the default; name a file instead (ds/unclear/path/in/repo.parquet)",
    )
  })

  it('names the splits it found for an unknown one, and a missing repo in one line', async () => {
    const { hub } = setup()
    const e = await failure(readDataRecords('ds/parquet:validation', { hub }))
    expect(e.code).toBe('E_ENTRY_NOT_FOUND')
    expect(e.message).toBe(
      'ds/parquet has no split "validation": it has test, train (from data/<split>-NNNNN-of-NNNNN files)',
    )
    const missing = await failure(readDataRecords('ds/nope', { hub }))
    expect(missing.code).toBe('E_REPO_NOT_FOUND')
    expect(missing.message).toMatch(/^repository dataset ds\/nope not found on /)
    const file = await failure(readDataRecords('ds/root/nope.jsonl', { hub }))
    expect(file.code).toBe('E_ENTRY_NOT_FOUND')
  })

  it('names the shard file and line of a bad record', async () => {
    const { hub } = setup()
    const e = await failure(readDataRecords('ds/bad-shard', { hub }))
    expect(e.message).toMatch(/\/data\/train-00001-of-00002\.jsonl:2: not valid JSON/)
  })

  it('offline, reads what the cache holds without a request, and names a split it lacks', async () => {
    const { hub } = setup()
    const online = await resolveHubDataset('ds/cached', hub)
    const before = server.log.length
    const offline = { ...hub, offline: true }
    const again = await resolveHubDataset('ds/cached', offline)
    expect(again).toEqual(online)
    expect(server.log.slice(before).filter((r) => r.path.includes('ds/cached'))).toEqual([])
    const e = await failure(resolveHubDataset('ds/cached:test', offline))
    expect(e.code).toBe('E_OFFLINE')
    expect(e.message).toBe('ds/cached has no split "test" in the cache: it has train (from the file names)')
    const none = await failure(resolveHubDataset('ds/parquet', offline))
    expect(none.code).toBe('E_OFFLINE')
  })

  it('uses the cached copy, with a warning, when the Hub cannot be reached', async () => {
    const { hub } = setup()
    const online = await resolveHubDataset('ds/parquet:test', hub)
    const events: DownloadEvent[] = []
    // Nothing listens on port 9 of the loopback: the connection is refused.
    const down = await resolveHubDataset('ds/parquet:test', { ...hub, endpoint: 'http://127.0.0.1:9' }, (e) =>
      events.push(e),
    )
    expect(down.files).toEqual(online.files)
    expect(events.filter((e) => e.type === 'warning')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/; using the cached copy of ds\/parquet$/) }),
    ])
  })

  it('loadTrainData tokenizes a dataset id and says which commit it read', async () => {
    const { hub } = setup()
    const data = await loadTrainData('ds/parquet', goldenTokenizer('llama-tiny'), { seqLen: 16, hub })
    expect(data.records).toBe(3)
    expect(data.examples.map((e) => e.where.split('/').at(-1))).toEqual([
      'train-00000-of-00002.parquet row 0',
      'train-00000-of-00002.parquet row 1',
      'train-00001-of-00002.parquet row 0',
    ])
    expect(data.hub?.commit).toBe(commits['ds/parquet'])
  })
})
