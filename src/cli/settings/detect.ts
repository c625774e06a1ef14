// Defaults proposed for this machine (the wizard's first answers, `kiln config default`): every key
// with a built-in default, with the core count and the device detected.
import os from 'node:os'
import { native } from '../../core/native.js'
import { detectCuda } from '../env-report/gpu.js'
import { settingKeys } from './keys.js'

/** Backends the native addon was built with; none when it is not built. */
export function nativeBackends(): string[] {
  try {
    return native().cpuInfo().backends
  } catch {
    return []
  }
}

/** cuda when there is an NVIDIA GPU and this build can use it; otherwise auto (the CPU today). */
export function detectDevice(): 'cuda' | 'auto' {
  return nativeBackends().includes('cuda') && (detectCuda()?.gpus.length ?? 0) > 0 ? 'cuda' : 'auto'
}

/**
 * Detected values for the keys a new settings file should hold. Keys whose default follows the
 * environment (hub.cache_dir follows HF_HOME) are left out, so writing them does not pin them.
 */
export function detectedDefaults(env: NodeJS.ProcessEnv): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const k of settingKeys()) {
    const value = k.followsEnv ? undefined : k.default?.(env)
    if (value !== undefined) out.set(k.key, value)
  }
  out.set('runtime.threads', os.availableParallelism())
  out.set('runtime.device', detectDevice())
  return out
}
