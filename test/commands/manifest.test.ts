// The oclif manifest the build writes (scripts/write-derived.mjs) lets oclif load only the command it
// runs. A stale one would hide a new command or show old help, so it must be exactly what oclif
// computes from the compiled commands.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Config } from '@oclif/core'
import { expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

it('oclif.manifest.json is what oclif computes from dist/commands', async () => {
  const written = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
  const config = await Config.load({ root: ROOT, ignoreManifest: true })
  // The Plugin interface does not declare `manifest`; the class has it (scripts/write-derived.mjs).
  const fresh = (config.plugins.get(config.pjson.name) as unknown as { manifest: unknown }).manifest
  expect(written).toEqual(JSON.parse(JSON.stringify(fresh)))
  expect(Object.keys(written.commands)).toContain('generate')
})
