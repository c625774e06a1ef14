// kiln env: the facts a bug report needs, as text or one JSON document.
import { BaseCommand } from '../cli/base-command.js'
import { collectEnv, type EnvReport } from '../cli/env-report/collect.js'
import { renderEnv } from '../cli/env-report/render.js'

export default class Env extends BaseCommand<EnvReport> {
  static summary = 'Show versions, hardware, native build, settings and cache (for bug reports).'
  static description =
    `Prints kiln's and Node's versions, the OS, the CPU (model, cores, SIMD features such as avx2, fma, avx512f), memory, the native addon's build (backends compiled in, the SIMD its kernels use), the CUDA driver and GPUs if any, the settings file with every value and its source (secrets redacted), and the Hub cache folder with its size. Paste it into bug reports. With --json: one document with the keys kiln, node, os, cpu, memory, native, cuda, settings, cache.`

  static examples = ['<%= config.bin %> env', '<%= config.bin %> env --json > env.json']

  protected rendering = { text: (r: EnvReport) => ({ out: renderEnv(r) }) }

  async run(): Promise<EnvReport> {
    await this.parse(Env)
    return collectEnv()
  }
}
