// The Hub settings every command that fetches or reads the cache uses: its own flags first, then
// KILN_HUB_* / HF_* variables, then the settings file, then the defaults (docs/config.md).
import type { HubOptions } from '../../core/hub/config.js'
import { settingsFor } from './for-command.js'
import type { ResolvedSetting } from './resolve.js'

export const HUB_KEYS = ['hub.endpoint', 'hub.cache_dir', 'hub.token', 'hub.offline']

/** The Hub options from settings a command resolved already (HUB_KEYS among them), its flags first. */
export function hubFromSettings(s: Map<string, ResolvedSetting>, flags: HubOptions = {}): HubOptions {
  const value = <T>(key: string) => s.get(key)?.value as T | undefined
  return {
    endpoint: flags.endpoint ?? value<string>('hub.endpoint'),
    cacheDir: flags.cacheDir ?? value<string>('hub.cache_dir'),
    token: flags.token ?? value<string>('hub.token'),
    offline: flags.offline ?? value<boolean>('hub.offline'),
  }
}

export async function hubSettings(flags: HubOptions = {}): Promise<HubOptions> {
  return hubFromSettings(await settingsFor(HUB_KEYS), flags)
}
