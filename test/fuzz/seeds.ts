// Valid inputs the fuzz targets mutate: the golden fixtures' files, read once per test file.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { defaultModelPath } from '../../src/core/default-model.js'
import { GOLDEN } from '../helpers/fixtures.js'
import type { Json } from './mutate.js'

export const TOKENIZER_FIXTURES = path.join(GOLDEN, '..', 'tokenizers')

/** Every folder of the golden fixtures and the tokenizer fixtures, and the default model. */
export function fixtureDirs(): string[] {
  const list = (root: string) =>
    readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(root, d.name))
  return [...list(GOLDEN), ...list(TOKENIZER_FIXTURES), defaultModelPath()]
}

/** `name` in each fixture folder that has it: [folder, bytes]. */
export function fixtureFiles(name: string): [string, Buffer][] {
  return fixtureDirs()
    .map((d) => path.join(d, name))
    .filter((f) => existsSync(f))
    .map((f) => [path.dirname(f), readFileSync(f)])
}

export function fixtureJson(name: string): [string, Json][] {
  return fixtureFiles(name).map(([dir, bytes]) => [dir, JSON.parse(bytes.toString('utf8')) as Json])
}

/** Every .safetensors file under the fixtures (models, adapters, goldens), smallest first. */
export function safetensorsFixtures(maxBytes = 1 << 20): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name)
      if (d.isDirectory()) walk(p)
      else if (d.name.endsWith('.safetensors')) out.push(p)
    }
  }
  walk(GOLDEN)
  walk(defaultModelPath())
  return out
    .map((p) => ({ p, size: readFileSync(p).byteLength }))
    .filter((x) => x.size <= maxBytes)
    .sort((a, b) => a.size - b.size)
    .map((x) => x.p)
}

/** The chat templates of the fixtures: .jinja files and tokenizer_config.json's chat_template. */
export function fixtureTemplates(): string[] {
  const out = fixtureFiles('chat_template.jinja').map(([, b]) => b.toString('utf8'))
  for (const [, cfg] of fixtureJson('tokenizer_config.json')) {
    const t = (cfg as Record<string, Json>).chat_template
    if (typeof t === 'string') out.push(t)
  }
  return [...new Set(out)]
}
