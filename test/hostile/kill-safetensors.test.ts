// The library's writeSafetensors, in a process of its own (write-safetensors.mjs, 16 MB in 64 writes),
// killed with SIGKILL at random moments: the destination is the old file or the complete new one,
// and the next write removes the killed writers' temporary files.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeTempDir, removeTempDirs } from '../helpers/cli.js'
import { here, KILLS, killLoop, run, SEED, timeoutFor } from './helpers.js'

afterAll(() => removeTempDirs())

describe('writeSafetensors under SIGKILL', () => {
  it(
    `writeSafetensors in a process of its own (${2 * KILLS} kills, seed ${SEED})`,
    async () => {
      const old = path.join(makeTempDir(), 'old.safetensors')
      const r = await run([old, '1', '2'], {}, here('write-safetensors.mjs'))
      expect(r.status, r.stderr).toBe(0)
      await killLoop(
        // A cheap writer (no CLI start-up): twice the kills.
        {
          label: 'safetensors',
          args: (out) => [out, '2', '16'],
          script: here('write-safetensors.mjs'),
          kills: 2 * KILLS,
        },
        readFileSync(old),
        SEED + 4,
      )
    },
    timeoutFor(2 * KILLS + 3),
  )
})
