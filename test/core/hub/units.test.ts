// The small pure pieces: repo ids, glob filters, cache folder names, configuration precedence.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { resolveHubConfig } from '../../../src/core/hub/config.js'
import { makePathFilter } from '../../../src/core/hub/glob-filter.js'
import { parseRepoFolderName, parseRepoId, repoFolderName } from '../../../src/core/hub/repo-id.js'

describe('repo ids', () => {
  it('parses org/name[@rev] and maps to cache folders', () => {
    expect(parseRepoId('Qwen/Qwen2.5-0.5B@refs/pr/1')).toEqual({
      type: 'model',
      name: 'Qwen/Qwen2.5-0.5B',
      revision: 'refs/pr/1',
    })
    expect(parseRepoId('gpt2')).toEqual({ type: 'model', name: 'gpt2', revision: undefined })
    expect(repoFolderName({ type: 'dataset', name: 'org/my.data' })).toBe('datasets--org--my.data')
    expect(parseRepoFolderName('models--org--name')).toEqual({ type: 'model', name: 'org/name' })
    expect(parseRepoFolderName('.locks')).toBeUndefined()
    for (const bad of ['a/b/c', '../x', 'org/..', 'org/name@', 'org/na me'])
      expect(() => parseRepoId(bad), bad).toThrow(/repo id|revision/)
  })
})

describe('glob filters (fnmatch, as huggingface_hub)', () => {
  it('matches across folders, honours exclude, and treats a trailing / as a folder', () => {
    const f = makePathFilter(['*.json', 'onnx/'], ['tokenizer*'])
    expect(['config.json', 'a/b.json', 'onnx/model.onnx'].every(f)).toBe(true)
    expect(['tokenizer.json', 'model.safetensors'].some(f)).toBe(false)
    expect(makePathFilter(['model-0000[1-2]-of-*.safetensors'])('model-00002-of-00003.safetensors')).toBe(
      true,
    )
    expect(makePathFilter(['model-0000[!1]-*'])('model-00001-of-2')).toBe(false)
    expect(makePathFilter(['?.txt'])('a.txt')).toBe(true)
    expect(makePathFilter()('anything')).toBe(true)
  })
})

describe('configuration', () => {
  it('settings > HF_* environment > defaults', () => {
    const env = {
      HOME: '/h',
      HF_HOME: '/hf',
      HF_ENDPOINT: 'http://e/',
      HF_TOKEN: 'hf_env',
      HF_HUB_OFFLINE: 'TRUE',
    }
    const c = resolveHubConfig({}, env)
    expect(c).toMatchObject({
      endpoint: 'http://e',
      cacheDir: path.resolve('/hf/hub'),
      token: 'hf_env',
      offline: true,
    })
    const s = resolveHubConfig({ endpoint: 'http://s', cacheDir: '/c', token: 'hf_s', offline: false }, env)
    expect(s).toMatchObject({
      endpoint: 'http://s',
      cacheDir: path.resolve('/c'),
      token: 'hf_s',
      offline: false,
    })
    const d = resolveHubConfig({}, { XDG_CACHE_HOME: '/x', HF_TOKEN_PATH: '/nonexistent' })
    expect(d).toMatchObject({
      endpoint: 'https://huggingface.co',
      cacheDir: path.resolve('/x/huggingface/hub'),
      offline: false,
    })
    expect(d.token).toBeUndefined()
    expect(resolveHubConfig({}, { HF_HUB_CACHE: '/cache', HF_HOME: '/hf' }).cacheDir).toBe(
      path.resolve('/cache'),
    )
  })
})
