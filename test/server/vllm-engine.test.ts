// `kiln serve --engine vllm` end to end, with a stand-in `vllm` executable first on PATH
// (test/helpers/vllm-stand-in.cjs) that records what it was given: the exact arguments, the API key
// by environment and never by argv, the ready line once its /health says 200, signals forwarded
// and its exit status relayed, and the refusals (GGUF, no vllm, kiln-only flags, an early exit).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { defaultModelPath } from '../../src/core/default-model.js'
import { freshEnv, startServer as startHub, tinyRepoFiles } from '../core/hub/helpers.js'
import { makeTempDir, ROOT, removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { eventually, type ServeProcess, spawnServe } from '../helpers/server.js'

afterAll(removeTempDirs)

const started: ServeProcess[] = []
afterEach(() => {
  for (const s of started.splice(0))
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
})

interface Record {
  argv: string[]
  vllmApiKey: string | null
  pid: number
  signals: string[]
}

/** A folder holding the stand-in as `vllm`, and where it records what it saw. */
function standIn(): { bin: string; record: string; read(): Record } {
  const bin = makeTempDir('kiln-vllm-bin-')
  const exe = path.join(bin, 'vllm')
  const source = readFileSync(path.join(ROOT, 'test', 'helpers', 'vllm-stand-in.cjs'), 'utf8')
  writeFileSync(exe, `#!${process.execPath}\n${source}`)
  chmodSync(exe, 0o755)
  const record = path.join(bin, 'record.json')
  return { bin, record, read: () => JSON.parse(readFileSync(record, 'utf8')) as Record }
}

function serve(args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
  const s = spawnServe(args, env)
  started.push(s)
  return s
}

/** A model folder as far as kiln looks at one for vLLM (vLLM reads the rest). */
function modelFolder(): string {
  const dir = path.join(makeTempDir(), 'my-model')
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'config.json'), '{"model_type": "llama"}')
  return dir
}

describe('kiln serve --engine vllm', () => {
  it('hands vLLM the mapped flags and the key by env, prints the ready line, relays SIGTERM and the status', async () => {
    const v = standIn()
    const model = modelFolder()
    const template = path.join(makeTempDir(), 'chat.jinja')
    writeFileSync(template, '{{ messages[0].content }}')
    const s = serve(
      [
        '--engine',
        'vllm',
        '-m',
        model,
        '--port',
        '0',
        '--api-key',
        'sekrit-key',
        '--context',
        '64',
        '--max-seqs',
        '4',
        '--served-model-name',
        'potter',
        '--chat-template',
        template,
        '--dtype',
        'bf16',
        '--no-prefix-cache',
      ],
      {
        PATH: `${v.bin}${path.delimiter}${process.env.PATH}`,
        STANDIN_RECORD: v.record,
        STANDIN_EXIT_CODE: '7',
      },
    )
    const url = await s.ready
    const port = new URL(url).port
    expect(s.lines).toEqual([`kiln serve: listening on http://127.0.0.1:${port} (model potter)`])
    // It is the stand-in that answers there.
    expect((await fetch(`${url}/health`)).status).toBe(200)
    const seen = v.read()
    expect(seen.argv).toEqual([
      'serve',
      model,
      '--host',
      '127.0.0.1',
      '--port',
      port,
      '--served-model-name',
      'potter',
      '--max-model-len',
      '64',
      '--max-num-seqs',
      '4',
      '--no-enable-prefix-caching',
      '--dtype',
      'bfloat16',
      '--chat-template',
      template,
    ])
    expect(seen.vllmApiKey).toBe('sekrit-key')
    expect(seen.argv.join(' ')).not.toContain('sekrit')

    s.child.kill('SIGTERM')
    expect(await s.exited).toEqual({ code: 7, signal: null })
    expect(v.read().signals).toEqual(['SIGTERM'])
    // vLLM's own output reaches kiln's stderr; kiln's stdout has the ready line alone.
    expect(s.stderr()).toContain('Uvicorn running on')
    expect(s.stderr()).toMatch(/kiln serve: vLLM stopped on SIGTERM with status 7\n$/)
    expect(s.lines.filter((l) => l !== '')).toHaveLength(1)
  })

  it('from KILN_SERVE_ENGINE, with --json: defaults, the ready event with vLLM context, SIGINT, exit 0', async () => {
    const v = standIn()
    const s = serve(['--port', '0', '--json'], {
      PATH: `${v.bin}${path.delimiter}${process.env.PATH}`,
      STANDIN_RECORD: v.record,
      KILN_SERVE_ENGINE: 'vllm',
      KILN_SERVE_API_KEY: 'env-key',
    })
    const url = await s.ready
    const port = new URL(url).port
    // kiln's defaults for what vLLM has its own (max-seqs, prefix cache, dtype) are not passed.
    expect(v.read().argv).toEqual([
      'serve',
      defaultModelPath(),
      '--host',
      '127.0.0.1',
      '--port',
      port,
      '--served-model-name',
      'kiln-default',
    ])
    expect(v.read().vllmApiKey).toBe('env-key')
    s.child.kill('SIGINT')
    expect(await s.exited).toEqual({ code: 0, signal: null })
    expect(v.read().signals).toEqual(['SIGINT'])
    // max_model_len came from the stand-in's /v1/models, which needs the key.
    expect(s.events()).toEqual([
      { event: 'ready', url, model: 'kiln-default', max_model_len: 2048, engine: 'vllm' },
      { event: 'shutdown', engine: 'vllm', signal: 'SIGINT', exit_code: 0, killed: false },
    ])
    expect(s.lines.filter((l) => l !== '')).toHaveLength(2) // nothing but events on stdout
  })

  it('a repo id is fetched into the shared cache as for kiln, and vLLM gets the snapshot folder', async () => {
    const hub = await startHub()
    try {
      hub.addRepo({ name: 'models/tiny', files: tinyRepoFiles() })
      const env = freshEnv(hub)
      const v = standIn()
      const s = serve(['--engine', 'vllm', '-m', 'models/tiny', '--port', '0', '--json'], {
        ...env.env,
        PATH: `${v.bin}${path.delimiter}${process.env.PATH}`,
        STANDIN_RECORD: v.record,
      })
      const url = await s.ready
      const snapshots = path.join(env.cache, 'models--models--tiny', 'snapshots')
      const [commit] = readdirSync(snapshots)
      const snapshot = path.join(snapshots, commit)
      expect(v.read().argv.slice(0, 2)).toEqual(['serve', snapshot])
      // Named as the repo id, so that clients send what they would to kiln's own engine.
      expect(v.read().argv.slice(-2)).toEqual(['--served-model-name', 'models/tiny'])
      expect(readdirSync(snapshot).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
      expect(s.events()[0]).toMatchObject({ event: 'ready', url, model: 'models/tiny' })
      s.child.kill('SIGTERM')
      expect(await s.exited).toEqual({ code: 0, signal: null })
    } finally {
      await hub.close()
    }
  })

  it('--adapter NAME=DIR becomes vLLM LoRA modules, with a rank limit that admits them', async () => {
    const v = standIn()
    const dir = makeTempDir()
    const r64 = path.join(dir, 'wide-lora')
    mkdirSync(r64)
    writeFileSync(path.join(r64, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 64 }))
    const narrow = path.join(golden('lora'), 'adapter_after_5_steps')
    const s = serve(
      [
        '--engine',
        'vllm',
        '--port',
        '0',
        '--json',
        '--adapter',
        `wide=${r64}`,
        '--adapter',
        `narrow=${narrow}`,
      ],
      { PATH: `${v.bin}${path.delimiter}${process.env.PATH}`, STANDIN_RECORD: v.record },
    )
    await s.ready
    expect(v.read().argv.slice(-8)).toEqual([
      '--enable-lora',
      '--max-loras',
      '2',
      '--max-lora-rank',
      '64',
      '--lora-modules',
      `wide=${r64}`,
      `narrow=${narrow}`,
    ])
    s.child.kill('SIGTERM')
    expect(await s.exited).toEqual({ code: 0, signal: null })
  })

  it('kills a vLLM that outlives the grace period: status 137', async () => {
    const v = standIn()
    const s = serve(['--engine', 'vllm', '--port', '0', '--grace-period', '1'], {
      PATH: `${v.bin}${path.delimiter}${process.env.PATH}`,
      STANDIN_RECORD: v.record,
      STANDIN_MODE: 'ignore-term',
    })
    await s.ready
    const pid = v.read().pid
    const t0 = Date.now()
    s.child.kill('SIGTERM')
    expect(await s.exited).toEqual({ code: 137, signal: null })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    expect(v.read().signals).toEqual(['SIGTERM'])
    expect(s.stderr()).toMatch(/outlived the grace period and was killed\n$/)
    const alive = () => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    expect(await eventually(async () => !alive(), 2000)).toBe(true)
  })

  it('a vLLM that exits before it is healthy: one error line with its status and last output', async () => {
    const v = standIn()
    const s = serve(['--engine', 'vllm', '--port', '0', '-q'], {
      PATH: `${v.bin}${path.delimiter}${process.env.PATH}`,
      STANDIN_RECORD: v.record,
      STANDIN_MODE: 'early-exit',
    })
    expect(await s.exited).toEqual({ code: 3, signal: null })
    expect(s.lines.filter((l) => l !== '')).toEqual([])
    expect(s.stderr()).toBe(
      'kiln: vllm exited with code 3 before it was ready; its last output: INFO 01-01 00:00:00 api_server.py:1] vLLM API server version 0.0.0-stand-in | Traceback (most recent call last): | File "vllm/worker.py", line 1 | RuntimeError: No CUDA GPUs are available\n',
    )
  })

  it('refuses GGUF files, a missing vllm and kiln-only flags: one line, non-zero, vLLM never started', async () => {
    const v = standIn()
    const dir = makeTempDir()
    const gguf = path.join(dir, 'model.gguf')
    writeFileSync(gguf, 'GGUF\x03\x00\x00\x00')
    const disguised = path.join(dir, 'weights.bin')
    writeFileSync(disguised, 'GGUF\x03\x00\x00\x00')
    const onPath = { PATH: `${v.bin}${path.delimiter}${process.env.PATH}`, STANDIN_RECORD: v.record }
    const noVllm = { PATH: makeTempDir('kiln-empty-path-') }
    const ggufLine =
      /vLLM's GGUF support is experimental and needs the base model's tokenizer; give the original model folder or repo id/
    const cases: [string[], NodeJS.ProcessEnv, number, RegExp][] = [
      [['-m', gguf], onPath, 2, ggufLine],
      [['-m', disguised], onPath, 2, ggufLine],
      [['-m', 'org/repo/model-q4_k_m.gguf'], onPath, 2, ggufLine],
      [['-m', modelFolder()], noVllm, 1, /no vllm executable on PATH: install vLLM \(pip install vllm\)/],
      [
        ['--kv-blocks', '8', '--threads', '2'],
        onPath,
        2,
        /--engine vllm has no equivalent for kiln's --kv-blocks: .*; --threads: /,
      ],
      [['--device', 'cpu'], onPath, 2, /--device cpu: vLLM runs on the device it was installed for/],
    ]
    await Promise.all(
      cases.map(async ([args, env, status, message]) => {
        const s = serve(['--engine', 'vllm', '--port', '0', ...args], env)
        expect(await s.exited, args.join(' ')).toEqual({ code: status, signal: null })
        expect(s.lines.filter((l) => l !== '')).toEqual([])
        expect(s.stderr()).toMatch(/^kiln: [^\n]+\n$/)
        expect(s.stderr()).toMatch(message)
      }),
    )
    expect(existsSync(v.record)).toBe(false)
  })
})
