// MODEL arguments as repo ids: `kiln generate -m org/name` fetches only what a model needs into the
// cache on first use, then runs exactly as from a local folder; offline it runs from the cache.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DownloadEvent } from '../../../src/core/hub/events.js'
import { isHubModelArg, resolveModelArg } from '../../../src/core/hub/model-arg.js'
import { type GenerateJson, jsonOut, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'
import { freshEnv, type HubServer, kiln, startServer } from './helpers.js'
import { randomBytesSeeded } from './hub-server.mjs'

let server: HubServer
const MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'model.safetensors',
]

beforeAll(async () => {
  server = await startServer()
  const dir = golden('llama-tiny')
  server.addRepo({
    name: 'models/llama-tiny',
    files: [
      ...MODEL_FILES.map((f) => ({ path: f, content: readFileSync(path.join(dir, f)) })),
      // Things a model run does not need: left on the server.
      { path: 'README.md', content: '# llama-tiny\n' },
      { path: 'onnx/model.onnx', content: randomBytesSeeded(100_000, 3) },
      { path: 'original/consolidated.safetensors', content: randomBytesSeeded(100_000, 4) },
    ],
  })
  const adapter = path.join(golden('lora'), 'adapter_after_5_steps')
  server.addRepo({
    name: 'adapters/tiny-lora',
    files: [
      ...['adapter_config.json', 'adapter_model.safetensors'].map((f) => ({
        path: f,
        content: readFileSync(path.join(adapter, f)),
      })),
      { path: 'README.md', content: '# a LoRA for llama-tiny\n' },
      { path: 'adapter_model.bin', content: randomBytesSeeded(10_000, 7) },
    ],
  })
  server.addRepo({ name: 'adapters/not-one', files: [{ path: 'config.json', content: '{}' }] })
  server.addRepo({
    name: 'models/some-gguf',
    files: [
      { path: 'config.json', content: '{}' },
      { path: 'q8/model-q8_0.gguf', content: randomBytesSeeded(300_000, 5) },
      { path: 'model-f16.gguf', content: randomBytesSeeded(400_000, 6) },
    ],
  })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

describe.concurrent('MODEL as org/name[@rev]', () => {
  it('generate -m org/name fetches the model files once and matches the local folder', async () => {
    const env = freshEnv(server)
    const args = ['generate', 'Hello', '--max-new-tokens', '4', '--json']
    const local = await kiln([...args, '-m', golden('llama-tiny')], env)
    expect(local.status, local.stderr).toBe(0)
    const remote = await kiln([...args, '-m', 'models/llama-tiny'], env)
    expect(remote.status, remote.stderr).toBe(0)
    expect(jsonOut<GenerateJson>(remote).tokens).toEqual(jsonOut<GenerateJson>(local).tokens)
    expect(remote.stderr).toMatch(/^model\.safetensors /m)
    const snaps = path.join(env.cache, 'models--models--llama-tiny', 'snapshots')
    const [commit] = readdirSync(snaps)
    expect(readdirSync(path.join(snaps, commit)).sort()).toEqual([...MODEL_FILES].sort())
    // Second use: nothing fetched; offline: no request at all.
    const again = await kiln([...args, '-m', 'models/llama-tiny@main'], env)
    expect(again.status, again.stderr).toBe(0)
    expect(again.stderr).not.toMatch(/^model\.safetensors \S+ MB$/m)
    const before = server.log.length
    const off = await kiln([...args, '-m', 'models/llama-tiny'], {
      ...env,
      env: { ...env.env, HF_HUB_OFFLINE: '1' },
    })
    expect(off.status, off.stderr).toBe(0)
    expect(jsonOut<GenerateJson>(off).tokens).toEqual(jsonOut<GenerateJson>(local).tokens)
    expect(server.log.slice(before).filter((l) => l.path.includes('llama-tiny'))).toEqual([])
    // The Hub unreachable: the cached copy runs, with a warning naming the CLI's flag.
    const down = await kiln([...args, '-m', 'models/llama-tiny'], {
      ...env,
      env: { ...env.env, HF_ENDPOINT: 'http://127.0.0.1:9' },
    })
    expect(down.status, down.stderr).toBe(0)
    expect(jsonOut<GenerateJson>(down).tokens).toEqual(jsonOut<GenerateJson>(local).tokens)
    expect(down.stderr).toMatch(
      /^kiln: warning: cannot reach 127\.0\.0\.1:9 \(ECONNREFUSED\); check the network, or use --offline to work from the cache; using the cached copy of models\/llama-tiny$/m,
    )
  })

  it('export takes org/name too', async () => {
    const env = freshEnv(server)
    const out = path.join(env.home, 'tiny.gguf')
    const r = await kiln(['export', 'models/llama-tiny', '--format', 'gguf', '-o', out], env)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${out}\n`)
    expect(readFileSync(out).subarray(0, 4).toString()).toBe('GGUF')
  })

  it('offline without the model in the cache fails in one line', async () => {
    const env = freshEnv(server, { HF_HUB_OFFLINE: '1' })
    const r = await kiln(['generate', 'Hi', '-m', 'models/llama-tiny'], env)
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(`kiln: offline: models/llama-tiny@main is not in the cache (${env.cache})\n`)
  })

  it('org/name/file.gguf fetches that one file and returns its path', async () => {
    const env = freshEnv(server)
    const hub = { endpoint: server.endpoint, cacheDir: env.cache }
    const events: DownloadEvent[] = []
    const p = await resolveModelArg('models/some-gguf/q8/model-q8_0.gguf', hub, (ev) => events.push(ev))
    expect(p.endsWith(path.join('q8', 'model-q8_0.gguf'))).toBe(true)
    expect(readFileSync(p).equals(randomBytesSeeded(300_000, 5))).toBe(true)
    expect(readdirSync(path.dirname(path.dirname(p)))).toEqual(['q8'])
    expect(events.filter((e) => e.type === 'file-done')).toEqual([
      { type: 'file-done', path: 'q8/model-q8_0.gguf', size: 300_000, downloaded: true },
    ])
  })

  it('with the Hub unreachable, a cached model is used with a warning', async () => {
    const env = freshEnv(server)
    const first = await resolveModelArg('models/some-gguf/model-f16.gguf', {
      endpoint: server.endpoint,
      cacheDir: env.cache,
    })
    const down = { endpoint: 'http://127.0.0.1:9', cacheDir: env.cache }
    const events: DownloadEvent[] = []
    expect(await resolveModelArg('models/some-gguf/model-f16.gguf', down, (ev) => events.push(ev))).toBe(
      first,
    )
    // The library names its own option (offline); the CLI says --offline (its test: generate below).
    expect(events).toEqual([
      {
        type: 'warning',
        message: expect.stringMatching(
          /^cannot reach 127\.0\.0\.1:9 \(ECONNREFUSED\); check the network, or use offline to work from the cache; using the cached copy of models\/some-gguf$/,
        ),
        template: expect.any(String),
      },
    ])
    await expect(resolveModelArg('models/llama-tiny', down)).rejects.toThrow(/cannot reach/)
  })

  it('generate --adapter org/name fetches the adapter files and matches the local folder', async () => {
    const env = freshEnv(server)
    const args = ['generate', 'Hello', '--max-new-tokens', '6', '--temperature', '0', '--json', '-m']
    const local = await kiln(
      [...args, golden('llama-tiny'), '--adapter', path.join(golden('lora'), 'adapter_after_5_steps')],
      env,
    )
    expect(local.status, local.stderr).toBe(0)
    const remote = await kiln([...args, golden('llama-tiny'), '--adapter', 'adapters/tiny-lora'], env)
    expect(remote.status, remote.stderr).toBe(0)
    expect(jsonOut<GenerateJson>(remote).tokens).toEqual(jsonOut<GenerateJson>(local).tokens)
    const snaps = path.join(env.cache, 'models--adapters--tiny-lora', 'snapshots')
    const [commit] = readdirSync(snaps)
    expect(readdirSync(path.join(snaps, commit)).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
    ])
    // A repo without adapter_config.json is not an adapter.
    const wrong = await kiln([...args, golden('llama-tiny'), '--adapter', 'adapters/not-one'], env)
    expect(wrong.status).toBe(1)
    expect(jsonOut<{ error: { message: string } }>(wrong).error.message).toBe(
      'adapters/not-one has no adapter_config.json: not a PEFT adapter',
    )
  })

  it('tells paths from repo ids', () => {
    expect(isHubModelArg('org/name')).toBe(true)
    expect(isHubModelArg('org/name@v1')).toBe(true)
    expect(isHubModelArg('org/name/file.gguf')).toBe(true)
    expect(isHubModelArg('./org/name')).toBe(false)
    expect(isHubModelArg('/abs/path')).toBe(false)
    expect(isHubModelArg(golden('llama-tiny'))).toBe(false)
    expect(isHubModelArg('test/core/hub')).toBe(false) // exists on disk
    expect(isHubModelArg('name-only')).toBe(false)
  })
})
