// The wizard once in a real terminal: `kiln config` in a detached tmux session, keys sent with
// send-keys, then the settings file it wrote is checked. tmux comes from Debian (.ci/run installs
// it when absent).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, ROOT, removeTempDirs } from '../../helpers/cli.js'
import { sandbox } from '../../helpers/settings-sandbox.js'

const hasTmux = spawnSync('tmux', ['-V']).status === 0
if (!hasTmux && process.env.CI) throw new Error('tmux is missing: .ci/run installs it (apt-get install tmux)')

const socket = `kiln-test-${process.pid}`

afterAll(() => {
  spawnSync('tmux', ['-L', socket, 'kill-server'])
  removeTempDirs()
})

function tmux(args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', env })
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

const screen = (name: string) => tmux(['capture-pane', '-p', '-t', name])

async function until(check: () => boolean, what: () => string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out; screen:\n${what()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts `kiln config` in a new window; the exit status lands in `done` when it finishes. */
function startWizard(name: string, env: NodeJS.ProcessEnv, done: string) {
  const vars = ['KILN_CONFIG', 'XDG_CACHE_HOME', 'HF_HOME'].map((k) => `${k}='${env[k]}'`).join(' ')
  // A person at a terminal: not CI (under CI=1 ink renders only the last frame, on exit).
  // The exit status lands in `done` by a rename: the test waits for the file to exist, and a
  // plain `echo > done` creates it empty before writing (a CI run read '' so).
  const cmd = `cd '${ROOT}' && env -u CI -u CONTINUOUS_INTEGRATION ${vars} '${process.execPath}' '${BIN}' config; echo $? > '${done}.part' && mv '${done}.part' '${done}'`
  tmux(['new-session', '-d', '-s', name, '-x', '120', '-y', '50', cmd], env)
}

/** Sends one key and waits until the screen changes (or shows `expect`). */
async function key(name: string, k: string, expectText?: string): Promise<void> {
  // ink subscribes a new screen's input handler just after drawing it; a key sent sooner is dropped.
  await new Promise((r) => setTimeout(r, 150))
  const before = screen(name)
  tmux(['send-keys', '-t', name, k])
  await until(
    () => (expectText ? screen(name).includes(expectText) : screen(name) !== before),
    () => screen(name),
  )
}

describe.skipIf(!hasTmux)('kiln config in a real terminal (tmux)', () => {
  it('keys in, file out; re-opened with its values; Escape writes nothing', async () => {
    const s = sandbox()
    const done = path.join(s.dir, 'done')
    startWizard('first', s.env, done)
    await until(
      () => screen('first').includes('runtime.device'),
      () => screen('first'),
    )
    await key('first', 'Down', '❯ cpu')
    await key('first', 'Enter', 'runtime.threads')
    for (let i = String(os.availableParallelism()).length; i > 0; i--) await key('first', 'BSpace')
    await key('first', '3', '> 3')
    await key('first', 'Enter', 'runtime.dtype')
    while (!screen('first').includes('Summary')) await key('first', 'Enter')
    expect(screen('first')).toMatch(/runtime\.device +cpu/)
    tmux(['send-keys', '-t', 'first', 'Enter'])
    await until(
      () => existsSync(done),
      () => screen('first'),
    )
    expect(readFileSync(done, 'utf8').trim()).toBe('0')
    const text = readFileSync(s.file, 'utf8')
    expect(text).toMatch(/^version: 1\n/)
    expect(text).toContain('device: cpu')
    expect(text).toContain('threads: 3')
    expect(text).toContain('dtype: auto')
    expect(text).not.toContain('token')
    expect(statSync(s.file).mode & 0o777).toBe(0o600)

    const done2 = path.join(s.dir, 'done2')
    startWizard('second', s.env, done2)
    await until(
      () => screen('second').includes('❯ cpu'),
      () => screen('second'),
    )
    await key('second', 'Enter', '> 3')
    await new Promise((r) => setTimeout(r, 150))
    tmux(['send-keys', '-t', 'second', 'Escape'])
    await until(
      () => existsSync(done2),
      () => screen('second'),
    )
    expect(readFileSync(done2, 'utf8').trim()).toBe('0')
    expect(readFileSync(s.file, 'utf8')).toBe(text)
  }, 240_000)

  it('keeps keys typed ahead, all in one burst', async () => {
    const s = sandbox()
    const done = path.join(s.dir, 'done')
    startWizard('burst', s.env, done)
    await until(
      () => screen('burst').includes('runtime.device'),
      () => screen('burst'),
    )
    const cores = String(os.availableParallelism()).length
    // device: down twice (cuda) then up (cpu); threads: clear, 5; then Enter through to Write.
    const keys = ['Down', 'Down', 'Up', 'Enter', ...Array(cores).fill('BSpace'), '5', 'Enter']
    keys.push(...Array(30).fill('Enter'))
    tmux(['send-keys', '-t', 'burst', ...keys])
    await until(
      () => existsSync(done),
      () => screen('burst'),
    )
    expect(readFileSync(done, 'utf8').trim()).toBe('0')
    const text = readFileSync(s.file, 'utf8')
    expect(text).toContain('device: cpu')
    expect(text).toContain('threads: 5')
  }, 240_000)
})
