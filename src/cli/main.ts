// The command line as a function: argv in, output on the run's streams (io.ts), exit status out.
// bin/run.js calls it with the process's streams; the tests call it in-process with their own.
//
// Start-up budget: 150 ms over a bare `node -e 0`, and importing @oclif/core alone costs most of it.
// So `kiln --version` and `kiln config get|list|path` are answered here without oclif, printing what
// oclif prints (same text, errors and exit codes; test/commands/conventions.test.ts runs both paths,
// and KILN_NO_FAST_PATH=1 turns this path off). Everything else goes to oclif.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { errorOutput } from './error-output.js'
import { cliIo } from './io.js'

/** Runs `kiln <argv>`; resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  // Before anything that colours is loaded (oclif's help, ink), so all of it sees one switch.
  // FORCE_COLOR would override NO_COLOR (and make Node warn that it does); --no-color is the last word.
  if (argv.includes('--no-color')) {
    process.env.NO_COLOR = '1'
    delete process.env.FORCE_COLOR
  }
  const fast = !process.env.KILN_NO_FAST_PATH
  // oclif says `platform` is "wsl" under WSL; that is left to oclif rather than guessed here.
  if (fast && argv[0] === '--version' && !/microsoft/i.test(os.release())) {
    const pjson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    const arch = os.arch() === 'ia32' ? 'x86' : os.arch()
    cliIo().stdout.write(
      `${pjson.name}/${pjson.version} ${process.platform}-${arch} node-${process.version}\n`,
    )
    return 0
  }
  if (fast && argv[0] === 'config') {
    const { runFastPath } = await import('./settings/fast-path.js')
    const status = await runFastPath(argv)
    if (status !== undefined) return status
  }
  const { Errors, run } = await import('@oclif/core')
  try {
    // A fresh oclif config per run: its help rewrites the command ids it holds for display.
    await run(argv, import.meta.url)
    return 0
  } catch (err) {
    // BaseCommand has printed its errors already and exits through ExitError; what reaches here
    // otherwise (an unknown command, a plugin's failure) is printed the same way.
    if (err instanceof Errors.ExitError) return err.oclif.exit ?? 1
    const e = err as Error & { oclif?: { exit?: number } }
    const out = errorOutput(e, argv.includes('--json'), e.oclif ? { exit: e.oclif.exit ?? 2 } : undefined)
    const io = cliIo()
    if (out.stdout) io.stdout.write(out.stdout)
    if (out.stderr) io.stderr.write(out.stderr)
    return out.exit
  }
}
