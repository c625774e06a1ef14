#!/usr/bin/env node
// kiln's command-line entry: oclif finds the compiled commands in dist/commands.
import { execute } from '@oclif/core'

await execute({ dir: import.meta.url })
