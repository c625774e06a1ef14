// A stand-in `accelerate` for the tests of `kiln finetune --launcher accelerate`: a small Node script
// put first on PATH. It checks that it is called as `launch --config_file CFG train.py
// HPARAMS` with those files present, records what it received (arguments, the config YAML, the
// hyperparameters, the script, the examples) in STANDIN_RECORD, prints the script's JSON event lines
// (and a line of noise on each stream), and writes the adapter found in STANDIN_ADAPTER into OUT.
// STANDIN_MODE=fail ends with a traceback and status 1; STANDIN_MODE=slow waits 200 ms per step and
// stops after its step once the stop file exists, as the real script does.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { makeTempDir } from '../../helpers/cli.js'

const STANDIN = `#!/usr/bin/env node
const fs = require('node:fs')
const path = require('node:path')
const args = process.argv.slice(2)
const [cmd, flag, cfg, script, hp] = args
if (args.length !== 5 || cmd !== 'launch' || flag !== '--config_file') {
  console.error('stand-in accelerate: unexpected arguments: ' + args.join(' '))
  process.exit(2)
}
for (const f of [cfg, script, hp]) {
  if (!path.isAbsolute(f) || !fs.existsSync(f)) {
    console.error('stand-in accelerate: no such file ' + f)
    process.exit(2)
  }
}
if (path.basename(script) !== 'train.py') process.exit(3)
const h = JSON.parse(fs.readFileSync(hp, 'utf8'))
const read = (f) => (f ? fs.readFileSync(f, 'utf8') : null)
fs.writeFileSync(process.env.STANDIN_RECORD, JSON.stringify({
  args,
  cwd: process.cwd(),
  config: read(cfg),
  deepspeed: h.training_args.deepspeed ? JSON.parse(read(h.training_args.deepspeed)) : null,
  hparams: h,
  script: read(script),
  train: read(h.train_file),
  eval: read(h.eval_file),
  unbuffered: process.env.PYTHONUNBUFFERED,
}))
const say = (o) => console.log(JSON.stringify(o))
if (process.env.STANDIN_MODE === 'fail') {
  console.log('loading checkpoint shards')
  console.error('Traceback (most recent call last):')
  console.error('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB')
  process.exit(1)
}
let stop = false
const total = h.training_args.max_steps
const examples = read(h.train_file).split('\\n').filter((l) => l).length
const saveEvery = h.training_args.save_steps
const slow = process.env.STANDIN_MODE === 'slow'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
;(async () => {
  let step = 0
  if (h.resume) {
    const dir = h.training_args.output_dir
    step = Math.max(...fs.readdirSync(dir).map((n) => Number(/^checkpoint-(\\d+)$/.exec(n)?.[1] ?? -1)))
  }
  say({ event: 'start', total_steps: total, start_step: step, trainable_parameters: 1234, examples })
  console.log('{"not": "an event"}')
  console.error('a warning from transformers')
  while (step < total) {
    if (slow) await sleep(200)
    stop = fs.existsSync(h.stop_file)
    step++
    say({ event: 'step', step, total_steps: total, loss: 3 - step / 10, lr: h.training_args.learning_rate, grad_norm: 0.5, tokens: step * 100, epoch: step / total })
    if (stop || (saveEvery && step % saveEvery === 0)) {
      const dir = path.join(h.training_args.output_dir, 'checkpoint-' + step)
      fs.mkdirSync(dir, { recursive: true })
      say({ event: 'save', step, dir })
    }
    if (stop) break
  }
  if (h.eval_file && !stop) say({ event: 'eval', step, loss: 2.5 })
  fs.mkdirSync(h.out, { recursive: true })
  for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
    fs.copyFileSync(path.join(process.env.STANDIN_ADAPTER, f), path.join(h.out, f))
  say({ event: 'done', step, stopped: stop })
})()
`

/** A folder holding the stand-in as `accelerate`, to put first on PATH. */
export function standinBin(): string {
  const bin = path.join(makeTempDir('kiln-accelerate-'), 'bin')
  mkdirSync(bin)
  const file = path.join(bin, 'accelerate')
  writeFileSync(file, STANDIN)
  chmodSync(file, 0o755)
  return bin
}

/** An environment with the stand-in first on PATH (node itself stays reachable for its #! line). */
export function standinEnv(
  bin: string,
  record: string,
  adapter: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: [bin, path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter),
    STANDIN_RECORD: record,
    STANDIN_ADAPTER: adapter,
    ...extra,
  }
}
