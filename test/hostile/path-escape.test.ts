// Names from outside never escape their folder: a Hub listing entry named `../../x` or an absolute
// path is refused before anything is written, and a symlink in a model folder whose target resolves
// outside that folder (and outside the Hugging Face cache) is refused with one clear error by every
// command that opens a folder, while the cache's own snapshot → blob links keep working.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { refuseEscapingLinks } from '../../src/core/util/folder-links.js'
import { freshEnv, type HubServer, startServer } from '../core/hub/helpers.js'
import { copyModel, type KilnRun, makeTempDir, removeTempDirs, runKiln } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

let server: HubServer

/** Every file of a golden model folder, as the stand-in Hub serves it. */
function modelFiles(name: string) {
  const dir = golden(name)
  return readdirSync(dir)
    .filter((f) => !f.startsWith('golden.'))
    .map((f) => ({ path: f, content: readFileSync(path.join(dir, f)) }))
}

beforeAll(async () => {
  server = await startServer()
  const ok = [{ path: 'config.json', content: '{}' }]
  server.addRepo({ name: 'evil/dotdot', files: [...ok, { path: '../../x', content: 'escaped' }] })
  server.addRepo({ name: 'evil/deep', files: [...ok, { path: 'a/../../../y', content: 'escaped' }] })
  server.addRepo({ name: 'evil/absolute', files: [...ok, { path: '/tmp/kiln-abs-escape', content: 'x' }] })
  server.addRepo({ name: 'evil/backslash', files: [...ok, { path: 'a\\..\\..\\z', content: 'x' }] })
  server.addRepo({ name: 'evil/dot', files: [...ok, { path: '.', content: 'x' }] })
  server.addRepo({ name: 'evil/empty-segment', files: [...ok, { path: 'a//b', content: 'x' }] })
  server.addRepo({ name: 'evil/nul', files: [...ok, { path: 'x\u0000y', content: 'x' }] })
  server.addRepo({ name: 'good/llama', files: modelFiles('llama-tiny') })
})

afterAll(async () => {
  await server?.close()
  removeTempDirs()
})

/** The single `kiln: …` line a failed run prints, with no stack trace. */
function oneError(r: KilnRun): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('kiln: '))
  expect(lines, r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  return lines[0]
}

/** Every path under `dir`. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? [p, ...tree(p)] : [p]
  })
}

describe('Hub listing entries that climb out', () => {
  it.each([
    ['evil/dotdot', '"../../x"'],
    ['evil/deep', '"a/../../../y"'],
    ['evil/absolute', '"/tmp/kiln-abs-escape"'],
    ['evil/backslash', '"a\\\\..\\\\..\\\\z"'],
    ['evil/dot', '"."'],
    ['evil/empty-segment', '"a//b"'],
    ['evil/nul', '"x\\u0000y"'],
  ])('%s is refused, nothing written', async (repo, shown) => {
    const env = freshEnv(server)
    const r = await runKiln(['download', repo], { env: env.env })
    expect(r.status).toBe(1)
    // The message names the repo, the commit whose listing it is, and the entry, shown escaped.
    const literal = shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    expect(oneError(r)).toMatch(
      new RegExp(`sent the file list of ${repo} at [0-9a-f]+ with an unsafe file path: ${literal}`),
    )
    // Nothing at all: not the escaped file, not even the safe ones (the listing comes first).
    expect(tree(env.home).filter((p) => !p.endsWith('/hub'))).toEqual([])
    expect(existsSync('/tmp/kiln-abs-escape')).toBe(false)
    // --local-dir, --json and a MODEL argument take the same road.
    const local = path.join(env.home, 'deep', 'er', 'local')
    const l = await runKiln(['download', repo, '--local-dir', local, '--json'], { env: env.env })
    expect(l.status).toBe(1)
    expect(JSON.parse(l.stdout).error.message).toContain('with an unsafe file path')
    expect(tree(env.home).filter((p) => !p.endsWith('/hub'))).toEqual([])
  })

  it('a --revision that climbs out of refs/ is refused', async () => {
    const env = freshEnv(server)
    const r = await runKiln(['download', 'good/llama', '--revision', '../../../escaped'], { env: env.env })
    expect(r.status).toBe(2)
    expect(oneError(r)).toMatch(/--revision "\.\.\/\.\.\/\.\.\/escaped" is not a valid revision/)
    expect(tree(env.home)).toEqual([])
  })
})

describe('symlinks in a model folder', () => {
  /** A copy of llama-tiny whose `file` is a link to a copy kept in a folder outside it. */
  function linkedOut(file: string): { dir: string; outside: string } {
    const dir = copyModel('llama-tiny')
    const outside = path.join(makeTempDir('kiln-outside-'), file)
    renameSync(path.join(dir, file), outside)
    symlinkSync(outside, path.join(dir, file))
    return { dir, outside }
  }
  const generate = (dir: string, env: NodeJS.ProcessEnv = {}) =>
    runKiln(['generate', 'hi', '-m', dir, '--max-new-tokens', '1', '--quiet'], { env })

  it('one whose target is outside the folder is refused by generate, export and quantize', async () => {
    // The target is the model's own tokenizer.json: only the check stands between it and a load.
    const { dir, outside } = linkedOut('tokenizer.json')
    const expected = `kiln: ${dir}: "tokenizer.json" is a symlink to ${JSON.stringify(outside)}, outside the model folder`
    const g = await generate(dir)
    expect(g.status).toBe(1)
    expect(oneError(g)).toContain(expected)
    const out = path.join(makeTempDir(), 'out.gguf')
    const e = await runKiln(['export', dir, '--format', 'gguf', '-o', out])
    expect(e.status).toBe(1)
    expect(oneError(e)).toContain(expected)
    const q = await runKiln(['quantize', dir, '--type', 'q8_0', '-o', out, '--no-quality'])
    expect(q.status).toBe(1)
    expect(oneError(q)).toContain(expected)
    expect(existsSync(out)).toBe(false)
    const j = await runKiln(['generate', 'hi', '-m', dir, '--json'])
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'E_FORMAT' })
  })

  it('relative, dangling, directory and weight-file links out are refused too', async () => {
    const rel = copyModel('llama-tiny')
    const secret = path.join(path.dirname(rel), 'secret.json')
    cpSync(path.join(rel, 'config.json'), secret)
    rmSync(path.join(rel, 'generation_config.json'), { force: true })
    symlinkSync('../secret.json', path.join(rel, 'generation_config.json'))
    expect(oneError(await generate(rel))).toContain('"generation_config.json" is a symlink to')

    const dangling = copyModel('llama-tiny')
    symlinkSync('/nonexistent/kiln/later.json', path.join(dangling, 'special_tokens_map.json'))
    expect(oneError(await generate(dangling))).toContain('"special_tokens_map.json" is a symlink to')

    const dirLink = copyModel('llama-tiny')
    symlinkSync(makeTempDir('kiln-outside-'), path.join(dirLink, '1_Pooling'))
    expect(oneError(await generate(dirLink))).toContain('"1_Pooling" is a symlink to')

    const { dir: weights } = linkedOut('model.safetensors')
    expect(oneError(await generate(weights))).toContain('"model.safetensors" is a symlink to')

    // Nested one level down, in a folder an encoder reads (embed opens folders through EncoderModel).
    const bert = copyModel('bert-tiny')
    mkdirSync(path.join(bert, '1_Pooling'))
    symlinkSync('/etc/passwd', path.join(bert, '1_Pooling', 'config.json'))
    const em = await runKiln(['embed', 'hi', '-m', bert])
    expect(em.status).toBe(1)
    expect(oneError(em)).toContain('"1_Pooling/config.json" is a symlink to "/etc/passwd"')
  })

  it('links that stay inside the folder are fine', async () => {
    const dir = copyModel('llama-tiny')
    mkdirSync(path.join(dir, 'real'))
    renameSync(path.join(dir, 'tokenizer.json'), path.join(dir, 'real', 'tokenizer.json'))
    symlinkSync('real/tokenizer.json', path.join(dir, 'tokenizer.json'))
    const g = await generate(dir)
    expect(g.status, g.stderr).toBe(0)
  })

  it("the cache's own snapshot → blob links are fine, and so are links into the cache root", async () => {
    const env = freshEnv(server)
    const d = await runKiln(['download', 'good/llama', '--json'], { env: env.env })
    expect(d.status, d.stderr).toBe(0)
    const snap = JSON.parse(d.stdout).path as string
    // By path and by repo id (resolved through the cache).
    expect((await generate(snap, env.env)).status).toBe(0)
    const g = await runKiln(['generate', 'hi', '-m', 'good/llama', '--max-new-tokens', '1', '--quiet'], {
      env: env.env,
    })
    expect(g.status, g.stderr).toBe(0)
    const out = path.join(env.home, 'out.gguf')
    const e = await runKiln(['export', snap, '--format', 'gguf', '-o', out], { env: env.env })
    expect(e.status, e.stderr).toBe(0)
    // A folder outside the cache whose files link into it (as older huggingface_hub local dirs did).
    const local = makeTempDir('kiln-local-')
    for (const f of readdirSync(snap)) symlinkSync(path.join(snap, f), path.join(local, f))
    expect((await generate(local, env.env)).status).toBe(0)
    // The same folder with no cache around it is refused.
    expect(() => refuseEscapingLinks(local, { HF_HUB_CACHE: makeTempDir() })).toThrow(
      /outside the model folder/,
    )
    // The Hub token file sits beside the cache, not in it: a link to it is refused.
    writeFileSync(path.join(env.home, 'token'), 'hf_notForModels')
    const thief = makeTempDir('kiln-thief-')
    symlinkSync(path.join(env.home, 'token'), path.join(thief, 'tokenizer.json'))
    expect(() => refuseEscapingLinks(thief, env.env)).toThrow(
      /"tokenizer\.json" is a symlink to .*token", outside the model folder and the Hugging Face cache/,
    )
    // A snapshot is allowed its own repo's blobs only, when the cache root is elsewhere.
    expect(() => refuseEscapingLinks(snap, { HF_HUB_CACHE: makeTempDir() })).not.toThrow()
    symlinkSync(path.join(env.home, 'out.gguf'), path.join(snap, 'stray.gguf'))
    expect(() => refuseEscapingLinks(snap, { HF_HUB_CACHE: makeTempDir() })).toThrow(/"stray\.gguf"/)
  })
})
