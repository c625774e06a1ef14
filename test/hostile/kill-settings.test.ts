// `kiln config set` killed with SIGKILL at random moments: the settings file is always the old one or
// the new one byte for byte (never empty, never half written), stays 0600, and the next run (taking
// over the dead process's lock) writes the new one.
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTempDirs } from '../helpers/cli.js'
import { sandbox } from '../helpers/settings-sandbox.js'
import {
  bytesOf,
  describeBytes,
  KILLS,
  killAt,
  leftovers,
  randomMoment,
  rng,
  run,
  SEED,
  timeoutFor,
} from './helpers.js'

afterAll(() => removeTempDirs())

const INITIAL =
  'version: 1\n# kept across writes\nhub:\n  token: hf_settingsTokenKeptSecret01\ngenerate:\n  top_k: 40\n'
const VALUES = ['0.25', '0.75']

describe('kiln config set under SIGKILL', () => {
  it(
    `leaves the old file or the new one (${KILLS} kills, seed ${SEED})`,
    async () => {
      // References from unkilled runs: the file after setting each value, starting from INITIAL.
      const ref = sandbox()
      ref.write(INITIAL)
      const refs: Record<string, Buffer> = {}
      for (const v of [...VALUES, VALUES[0]]) {
        const r = await run(['config', 'set', 'generate.temperature', v], ref.env)
        expect(r.status, r.stderr).toBe(0)
        const now = readFileSync(ref.file)
        // The states alternate stably: writing a value again gives the same bytes.
        if (refs[v]) expect(now.equals(refs[v])).toBe(true)
        refs[v] = now
      }
      expect(refs[VALUES[0]].toString()).toContain('# kept across writes')

      const box = sandbox()
      const random = rng(SEED)
      box.write(refs[VALUES[0]].toString())
      const runMs = (await run(['config', 'set', 'generate.temperature', VALUES[1]], box.env)).ms
      const outcomes = { before: 0, during: 0, after: 0 }
      for (let i = 0; i < KILLS; i++) {
        const old = bytesOf(box.file)!
        const oldValue = old.equals(refs[VALUES[0]]) ? VALUES[0] : VALUES[1]
        const value = oldValue === VALUES[0] ? VALUES[1] : VALUES[0]
        const r = await killAt(
          ['config', 'set', 'generate.temperature', value],
          box.env,
          randomMoment(random, i, runMs, path.dirname(box.file), /\.tmp$/),
        )
        const now = bytesOf(box.file)
        const what = describeBytes(now, { old: old, new: refs[value] })
        expect(['old', 'new'], `kill ${i} (${r.killed ? 'killed' : 'finished'}): ${what}`).toContain(what)
        outcomes[what === 'old' ? 'before' : 'after']++
        // A kill between the temporary file's creation and its rename leaves it behind (the next write
        // removes it).
        if (leftovers(path.dirname(box.file)).some((f) => f.endsWith('.tmp'))) outcomes.during++
        expect(statSync(box.file).mode & 0o777).toBe(0o600)
        if (!r.killed) expect(r.status, r.stderr).toBe(0)
      }
      console.log(
        `config set: ${KILLS} kills; old file kept ${outcomes.before}, new file ${outcomes.after}, ` +
          `a temporary file present after ${outcomes.during}`,
      )
      // The next run recovers: it takes over the lock a killed run left and writes the new file.
      const old = bytesOf(box.file)!
      const value = old.equals(refs[VALUES[0]]) ? VALUES[1] : VALUES[0]
      const r = await run(['config', 'set', 'generate.temperature', value], box.env)
      expect(r.status, r.stderr).toBe(0)
      expect(bytesOf(box.file)!.equals(refs[value])).toBe(true)
      expect(statSync(box.file).mode & 0o777).toBe(0o600)
      const get = await run(['config', 'get', 'generate.temperature'], box.env)
      expect(get.stdout.trim()).toBe(value)
      // Nothing is left behind: no lock, and no temporary file of a killed run.
      expect(bytesOf(`${box.file}.lock`)).toBeUndefined()
      expect(leftovers(path.dirname(box.file))).toEqual([])
    },
    timeoutFor(KILLS + 6),
  )
})
