// Start-up fast path: bin/run.js hands `kiln config get|list|path` here before importing @oclif/core
// (which alone costs more than the 150 ms start-up budget). Only argument lists whose meaning is
// certain are answered; anything else (help, unknown flags, `--`) returns false and goes to oclif,
// which prints the same output and errors through the same functions (src/core/settings/queries.ts).
import { errorOutput } from './error-output.js'
import { configGet, configList, configPath } from './queries.js'

/** Flags every command shares (src/base-command.ts), plus each fast command's own. */
const SHARED = new Set(['--json', '--quiet', '-q', '--color', '--no-color'])
const OWN: Record<string, Set<string>> = { get: new Set(), list: new Set(['--sources']), path: new Set() }
const ARGS: Record<string, number> = { get: 1, list: 0, path: 0 }

/** Runs the command if argv is one the fast path answers; false means "not mine, use oclif". */
export async function runFastPath(argv: string[]): Promise<boolean> {
  if (argv[0] !== 'config' || !(argv[1] in OWN)) return false
  const sub = argv[1]
  const flags = new Set<string>()
  const args: string[] = []
  for (const a of argv.slice(2)) {
    if (a.startsWith('-')) {
      if (!SHARED.has(a) && !OWN[sub].has(a)) return false
      flags.add(a)
    } else args.push(a)
  }
  if (args.length !== ARGS[sub]) return false
  const json = flags.has('--json')
  try {
    const out =
      sub === 'get'
        ? await configGet(args[0], { json })
        : sub === 'list'
          ? await configList({ json, sources: flags.has('--sources') })
          : configPath({ json })
    process.stdout.write(out)
  } catch (err) {
    const out = errorOutput(err as Error, json) // what BaseCommand.catch prints
    if (out.stdout) process.stdout.write(out.stdout)
    if (out.stderr) process.stderr.write(out.stderr)
    process.exitCode = out.exit
  }
  return true
}
