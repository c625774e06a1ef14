#!/usr/bin/env node
// kiln's command-line entry: oclif finds the compiled commands in dist/commands.
//
// Start-up budget: 150 ms over a bare `node -e 0`, and importing @oclif/core alone costs most of it.
// So `kiln --version` and `kiln config get|list|path` are answered here without oclif, printing what
// oclif prints (same text, errors and exit codes; test/cli/conventions.test.ts runs both paths, and
// KILN_NO_FAST_PATH=1 turns this path off). Everything else goes to oclif.
import { readFileSync } from 'node:fs'
import os from 'node:os'

const argv = process.argv.slice(2)
// Before anything that colours is loaded (oclif's help, ink), so all of it sees one switch.
// FORCE_COLOR would override NO_COLOR (and make Node warn that it does); --no-color is the last word.
if (argv.includes('--no-color')) {
  process.env.NO_COLOR = '1'
  delete process.env.FORCE_COLOR
}

const fast = !process.env.KILN_NO_FAST_PATH
let done = false
// oclif says `platform` is "wsl" under WSL; that is left to oclif rather than guessed here.
if (fast && argv[0] === '--version' && !/microsoft/i.test(os.release())) {
  const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const arch = os.arch() === 'ia32' ? 'x86' : os.arch()
  process.stdout.write(`${pjson.name}/${pjson.version} ${process.platform}-${arch} node-${process.version}\n`)
  done = true
} else if (fast && argv[0] === 'config') {
  const { runFastPath } = await import('../dist/core/settings/fast-path.js')
  done = await runFastPath(argv)
}
if (!done) {
  const { execute } = await import('@oclif/core')
  await execute({ dir: import.meta.url })
}
