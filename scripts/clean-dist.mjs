// Empties dist/ before tsc writes it, so a module moved or deleted in src/ leaves no stale copy that
// oclif (which lists dist/commands) or an import could still find.
import { rmSync } from 'node:fs'

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
