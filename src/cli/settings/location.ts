// Where the settings file lives: $KILN_CONFIG, else $XDG_CONFIG_HOME/kiln/config.yaml, else
// ~/.config/kiln/config.yaml.
import os from 'node:os'
import path from 'node:path'

export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_CONFIG) return path.resolve(env.KILN_CONFIG)
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined
  return path.join(xdg ?? path.join(os.homedir(), '.config'), 'kiln', 'config.yaml')
}
