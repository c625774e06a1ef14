#!/usr/bin/env node
// kiln's command-line entry: the command line itself is src/cli/main.ts (compiled to dist/).
const { main } = await import('../dist/cli/main.js')
process.exitCode = await main(process.argv.slice(2))
