// Start-up fast path: bin/run.js hands `kiln config get|list|path` here before importing @oclif/core
// (which alone costs more than the 150 ms start-up budget). Only argument lists whose meaning is
// certain are answered; anything else (help, unknown flags, `--`) returns false and goes to oclif,
// which prints the same output and errors through the same functions (queries.ts, render.ts).
import { errorOutput } from '../error-output.js'
import { cliIo } from '../io.js'
import { type Rendering, renderResult } from '../render.js'
import {
  configGet,
  configGetRendering,
  configList,
  configListRendering,
  configPath,
  configPathRendering,
} from './queries.js'

/** Flags every command shares (src/cli/base-command.ts), plus each fast command's own. */
const SHARED = new Set(['--json', '--quiet', '-q', '--color', '--no-color'])
const OWN: Record<string, Set<string>> = { get: new Set(), list: new Set(['--sources']), path: new Set() }
const ARGS: Record<string, number> = { get: 1, list: 0, path: 0 }

/**
 * Runs the command if argv is one the fast path answers and returns its exit status; undefined
 * means "not mine, use oclif".
 */
export async function runFastPath(argv: string[]): Promise<number | undefined> {
  if (argv[0] !== 'config' || !(argv[1] in OWN)) return undefined
  const sub = argv[1]
  const flags = new Set<string>()
  const args: string[] = []
  for (const a of argv.slice(2)) {
    if (a.startsWith('-')) {
      if (!SHARED.has(a) && !OWN[sub].has(a)) return undefined
      flags.add(a)
    } else args.push(a)
  }
  if (args.length !== ARGS[sub]) return undefined
  const json = flags.has('--json')
  const io = cliIo()
  try {
    const [result, rendering] =
      sub === 'get'
        ? [await configGet(args[0]), configGetRendering]
        : sub === 'list'
          ? [await configList(flags.has('--sources')), configListRendering]
          : [configPath(), configPathRendering]
    const context = {
      json,
      quiet: flags.has('--quiet') || flags.has('-q'),
      flags: { sources: flags.has('--sources') },
      args: { key: args[0] },
    }
    return renderResult(result, rendering as Rendering<unknown>, context, io)
  } catch (err) {
    const out = errorOutput(err as Error, json) // what BaseCommand.catch prints
    if (out.stdout) io.stdout.write(out.stdout)
    if (out.stderr) io.stderr.write(out.stderr)
    return out.exit
  }
}
