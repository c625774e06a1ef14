// What a command needs from the settings: the listed keys resolved from env > file > default. The
// command applies its own flags on top (a flag it was given wins), so a flag keeps the command's
// own checks and messages.
import { loadSettings } from './load.js'
import { settingsPath } from './location.js'
import { type ResolvedSetting, resolveSetting } from './resolve.js'

export async function settingsFor(
  keys: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Map<string, ResolvedSetting>> {
  const file = await loadSettings(settingsPath(env), env)
  const out = new Map<string, ResolvedSetting>()
  for (const key of keys) out.set(key, await resolveSetting(key, { env, file }))
  return out
}

/** Where a resolved value came from, for messages: "KILN_RUNTIME_DEVICE", "/home/me/.config/kiln/config.yaml". */
export function origin(s: ResolvedSetting): string {
  return s.from ?? s.source
}
