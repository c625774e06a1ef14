// Changing the settings file: set, unset, or replace values, each as one read-modify-write under a
// lock, published atomically (temporary file, fsync, rename), mode 0600 since it may hold tokens.
import { fchmodSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Document } from 'yaml'
import { KilnError, SettingsError } from '../../core/errors.js'
import { writeAll, writeFileAtomic } from '../../core/util/files.js'
import { rememberValues } from './file-cache.js'
import { loadSettingsDocument, loadYaml, parseSettings } from './load.js'
import { withLock } from './lock.js'
import { SETTINGS_VERSION } from './schema.js'
import { settingTypes } from './types.js'

/** Values by dotted key; `undefined` removes the key from the file. */
export type SettingsEdit = Map<string, unknown>

function ensureDir(file: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new SettingsError(`${path.dirname(file)}: cannot create the settings folder (${code})`)
  }
}

function writeText(file: string, text: string, overwrite: boolean): void {
  try {
    writeFileAtomic(
      file,
      (fd) => {
        fchmodSync(fd, 0o600)
        writeAll(fd, Buffer.from(text, 'utf8'))
      },
      { overwrite },
    )
  } catch (e) {
    if (e instanceof KilnError) throw new SettingsError(e.message)
    const code = (e as NodeJS.ErrnoException).code
    throw new SettingsError(`${file}: cannot write the settings file (${code ?? String(e)})`)
  }
}

function applyEdits(doc: Document, edits: SettingsEdit): void {
  if (!doc.has('version')) doc.set('version', SETTINGS_VERSION)
  for (const [key, value] of edits) {
    const [section, name] = key.split('.')
    if (value !== undefined) {
      doc.setIn([section, name], value)
      continue
    }
    if (!doc.hasIn([section, name])) continue
    doc.deleteIn([section, name])
    const rest = doc.getIn([section]) as { items?: unknown[] } | null | undefined
    if (rest && Array.isArray(rest.items) && rest.items.length === 0) doc.delete(section)
  }
}

/**
 * Applies `edits` to the file (created when missing; comments and other keys kept) and re-validates
 * the result before it replaces the old file. Values must already be checked against the schema.
 */
export async function editSettings(file: string, edits: SettingsEdit): Promise<void> {
  ensureDir(file)
  const yaml = await loadYaml()
  const types = await settingTypes()
  await withLock(file, async () => {
    const current = await loadSettingsDocument(file)
    const doc = current.doc ?? new yaml.Document({ version: SETTINGS_VERSION })
    applyEdits(doc, edits)
    const text = doc.toString()
    // never publish a file kiln would refuse to read
    const { values } = parseSettings(yaml, types, text, file)
    writeText(file, text, true)
    // The next command reads what was just validated without loading yaml and zod again.
    rememberValues(text, values, process.env)
  })
}

/** Writes a new file holding exactly `values`; an existing file is refused unless `overwrite`. */
export async function writeSettings(
  file: string,
  values: Map<string, unknown>,
  overwrite: boolean,
): Promise<void> {
  ensureDir(file)
  const yaml = await loadYaml()
  const types = await settingTypes()
  await withLock(file, () => {
    const doc = new yaml.Document({ version: SETTINGS_VERSION })
    applyEdits(doc, values)
    const text = doc.toString()
    const { values: checked } = parseSettings(yaml, types, text, file)
    writeText(file, text, overwrite)
    rememberValues(text, checked, process.env)
  })
}
