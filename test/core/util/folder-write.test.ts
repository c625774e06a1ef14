// writeFolderAtomic and recoverFolder: a folder is there whole (old or new) or not at all, even
// when its writer dies between replacing's two renames (the old copy aside, the new one not yet in).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { recoverFolder, writeFolderAtomic } from '../../../src/core/util/folder-write.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'

afterAll(() => removeTempDirs())

/** The pid of a process that has exited. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  })
  return Number(p.stdout)
}

const write = (dir: string, text: string, replace = true) =>
  writeFolderAtomic(dir, (tmp) => writeFileSync(path.join(tmp, 'file.txt'), text), { replace })

describe('writeFolderAtomic', () => {
  it('replaces a folder, leaving nothing beside it', () => {
    const parent = makeTempDir()
    const dir = path.join(parent, 'checkpoint')
    write(dir, 'one', false)
    write(dir, 'two')
    expect(readFileSync(path.join(dir, 'file.txt'), 'utf8')).toBe('two')
    expect(readdirSync(parent)).toEqual(['checkpoint'])
  })

  it('a writer killed between the two renames: the old folder comes back, whole', () => {
    const parent = makeTempDir()
    const dir = path.join(parent, 'checkpoint')
    const pid = deadPid()
    // What the kill leaves: the old folder aside, the new one complete under its temporary name.
    for (const [name, text] of [
      [`.checkpoint.${pid}.abc.previous`, 'old'],
      [`.checkpoint.${pid}.abc.tmp`, 'new'],
    ]) {
      mkdirSync(path.join(parent, name))
      writeFileSync(path.join(parent, name, 'file.txt'), text)
    }
    recoverFolder(dir)
    expect(readFileSync(path.join(dir, 'file.txt'), 'utf8')).toBe('old')
    // The next write removes the dead temporary.
    write(dir, 'next')
    expect(readdirSync(parent)).toEqual(['checkpoint'])
    expect(readFileSync(path.join(dir, 'file.txt'), 'utf8')).toBe('next')
  })

  it('a writer killed after the new folder went in: its old copy is removed', () => {
    const parent = makeTempDir()
    const dir = path.join(parent, 'checkpoint')
    write(dir, 'new', false)
    const aside = path.join(parent, `.checkpoint.${deadPid()}.xyz.previous`)
    mkdirSync(aside)
    recoverFolder(dir)
    expect(existsSync(aside)).toBe(false)
    expect(readFileSync(path.join(dir, 'file.txt'), 'utf8')).toBe('new')
  })

  it('leaves a live writer’s old copy alone', () => {
    const parent = makeTempDir()
    const dir = path.join(parent, 'checkpoint')
    const aside = path.join(parent, `.checkpoint.${process.pid}.xyz.previous`)
    mkdirSync(aside)
    recoverFolder(dir)
    expect(existsSync(aside)).toBe(true)
    expect(existsSync(dir)).toBe(false)
  })
})
