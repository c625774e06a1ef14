// Shared by the settings tests: a private settings file, cache and home per test, so nothing reads
// or writes the real ~/.config/kiln or ~/.cache/kiln.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { makeTempDir } from './cli.js'

export interface SettingsSandbox {
  dir: string
  file: string
  /** Environment for a kiln child process or for the core functions. */
  env: NodeJS.ProcessEnv
  write(text: string): void
}

/** Variables that would leak the developer's own settings into a test. */
const LEAKY = /^(KILN_(?!DEBUG)|HF_|HUGGING_FACE_)/

export function sandbox(extra: NodeJS.ProcessEnv = {}): SettingsSandbox {
  const dir = makeTempDir('kiln-settings-')
  const file = path.join(dir, 'config', 'kiln.yaml')
  mkdirSync(path.dirname(file))
  const env: NodeJS.ProcessEnv = {}
  // Set to undefined rather than left out: runKiln lays this over process.env.
  for (const [k, v] of Object.entries(process.env)) env[k] = LEAKY.test(k) ? undefined : v
  Object.assign(env, {
    KILN_CONFIG: file,
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    HF_HOME: path.join(dir, 'hf'),
    ...extra,
  })
  return {
    dir,
    file,
    env,
    write(text: string) {
      writeFileSync(file, text)
    },
  }
}
