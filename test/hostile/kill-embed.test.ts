// `kiln embed -o FILE` killed with SIGKILL at random moments: the output is the old file or the
// complete new one, and the next run writes it and removes the partial file a killed run left.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, it } from 'vitest'
import { makeTempDir, removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { KILLS, killLoop, SEED, timeoutFor } from './helpers.js'

afterAll(() => removeTempDirs())

describe('kiln embed under SIGKILL', () => {
  // One format: .safetensors and .jsonl go through the same writer (embedding-writers.ts).
  it.each(['npy'])(
    `-o out.%s (${KILLS} kills, seed ${SEED})`,
    async (ext) => {
      const texts = path.join(makeTempDir(), 'texts.txt')
      writeFileSync(
        texts,
        Array.from({ length: 300 }, (_, i) => `text number ${i} of the hostile test`).join('\n'),
      )
      const args = (out: string) => [
        'embed',
        '-m',
        golden('bert-tiny'),
        '-f',
        texts,
        '-o',
        out,
        '--force',
        '-t',
        '1',
      ]
      await killLoop(
        { label: `embed .${ext}`, args, temp: /\.partial$/, ext: `.${ext}` },
        Buffer.from('the previous vectors\n'),
        SEED + 5,
      )
    },
    timeoutFor(KILLS + 2),
  )
})
