// Writes the files derived from the compiled code, after tsc (`npm run build` and `prepare`):
// - dist/cli/settings/settings-rules.json: each setting's validation as data, derived from the zod
//   schema, so start-up reads a settings file without importing zod (src/cli/settings/rules-table.ts);
// - oclif.manifest.json: every command's id, flags and help, so oclif imports only the command it
//   runs instead of all of them (about 100 ms off every command; test/commands/manifest.test.ts checks
//   that it is what oclif would compute).
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Config } from '@oclif/core'
import { writeRulesTable } from '../dist/cli/settings/rules-table.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
await writeRulesTable()
// oclif reads an existing manifest even with ignoreManifest: a stale one would hide new commands.
rmSync(path.join(root, 'oclif.manifest.json'), { force: true })
const config = await Config.load({ root, ignoreManifest: true })
const { manifest } = config.plugins.get(config.pjson.name)
writeFileSync(path.join(root, 'oclif.manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
