// What every failed kiln run must look like: one `kiln: <message>` line on stderr (or one
// {"error": {code, message}} document on stdout with --json), exit 1 (run time) or 2 (usage), no
// signal and no stack trace.
import { expect } from 'vitest'
import { jsonOut, type KilnRun } from './cli.js'

/** One clear line on stderr, nothing on stdout, the expected exit status, no crash; the message. */
export function expectCleanError(r: KilnRun, status: 1 | 2, message?: RegExp): string {
  expect(r.signal).toBeNull()
  expect(r.status, r.stderr).toBe(status)
  expect(r.stdout).toBe('')
  expect(r.stderr).not.toContain('    at ')
  expect(r.stderr).toMatch(/^kiln: [^\n]+\n$/)
  const line = r.stderr.slice('kiln: '.length, -1)
  expect(line.length).toBeGreaterThan(10)
  if (message) expect(line).toMatch(message)
  return line
}

/** The same failure with --json: one {"error": {code, message}} object on stdout. */
export function expectJsonError(r: KilnRun, status: 1 | 2, code?: string): { code: string; message: string } {
  expect(r.signal).toBeNull()
  expect(r.status, r.stderr).toBe(status)
  expect(r.stderr).not.toContain('    at ')
  const j = jsonOut<{ error: { code: string; message: string } }>(r)
  expect(Object.keys(j)).toEqual(['error'])
  expect(Object.keys(j.error).sort()).toEqual(['code', 'message'])
  expect(j.error.code).toMatch(/^E_[A-Z_]+$/)
  if (code) expect(j.error.code).toBe(code)
  expect(typeof j.error.message).toBe('string')
  expect(j.error.message).not.toContain('\n')
  expect(j.error.message.length).toBeGreaterThan(10)
  return j.error
}
