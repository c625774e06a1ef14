// The engine is a library: src/core (and the package entry src/index.ts) never imports a front end
// (src/cli, src/commands, src/server), never touches the process's streams or exits, and never
// names a command-line flag. Front ends render what core reports (docs/architecture.md).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

const CORE = path.join(ROOT, 'src', 'core')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : /\.tsx?$/.test(e.name)
        ? [path.join(dir, e.name)]
        : [],
  )
}

const FILES = [...sources(CORE), path.join(ROOT, 'src', 'index.ts')]

/** Source text without comments (string contents are kept: they are what a user would read). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

/** Relative import specifiers, static and dynamic. */
function imports(text: string): string[] {
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)].map((m) => m[1])
}

/** String and template literals, roughly (enough for the messages core builds). */
function literals(text: string): string[] {
  return [...text.matchAll(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g)].map((m) => m[0])
}

describe('src/core is a library', () => {
  it('finds the sources it checks', () => {
    expect(FILES.length).toBeGreaterThan(50)
  })

  it('imports nothing outside src/core (but node and packages)', () => {
    const bad: string[] = []
    for (const file of FILES)
      for (const spec of imports(code(readFileSync(file, 'utf8'))))
        if (!path.resolve(path.dirname(file), spec).startsWith(CORE + path.sep))
          bad.push(`${path.relative(ROOT, file)} imports ${spec}`)
    expect(bad).toEqual([])
  })

  it('never touches the process streams, exits, or prints', () => {
    const bad: string[] = []
    const forbidden = /process\.(stdout|stderr|stdin|exit\b|exitCode)|\bconsole\.\w+\(/g
    for (const file of FILES)
      for (const m of code(readFileSync(file, 'utf8')).matchAll(forbidden))
        bad.push(`${path.relative(ROOT, file)}: ${m[0]}`)
    expect(bad).toEqual([])
  })

  it('names options the library way: no --flag in any string (front ends render option())', () => {
    const bad: string[] = []
    for (const file of FILES)
      for (const lit of literals(code(readFileSync(file, 'utf8'))))
        if (/(^|[\s'"`(])--[a-z]/.test(lit)) bad.push(`${path.relative(ROOT, file)}: ${lit}`)
    expect(bad).toEqual([])
  })

  it('the checks catch what they are for', () => {
    expect(imports("import { x } from '../../cli/io.js'\nawait import('./y.js')")).toEqual([
      '../../cli/io.js',
      './y.js',
    ])
    expect(literals("throw new UsageError('--top-p must be in (0, 1]')").join()).toMatch(
      /(^|[\s'"`(])--[a-z]/,
    )
    expect(literals("repo.startsWith('models--') && x.split('--')").join()).not.toMatch(/(^|[\s'"`(])--[a-z]/)
    expect(code('const a = 1 // process.stdout.write(x)')).not.toContain('process.stdout')
  })
})
