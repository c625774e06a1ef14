// kiln quantize: a smaller GGUF (int8 / int4 blocks) that llama.cpp loads and kiln runs, with a
// report of what the quantization cost.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type QuantizeReport, quantizeRendering, runQuantize } from '../cli/quantize.js'
import { settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { QUANTIZE_TYPES, type QuantizeType } from '../core/quantize/types.js'

export default class Quantize extends BaseCommand<QuantizeReport> {
  static summary =
    'Quantize a model to a GGUF file (q8_0, q4_0, q4_k_m, q6_k, f16, bf16) and report its quality.'
  static description = `Writes MODEL (a Hugging Face folder, a repo id org/name[@rev] fetched through the
cache, or a GGUF file) as a GGUF file whose weights are --type: ggml's block formats with llama.cpp's
per-tensor choices (the q4_k_m mix, a Q6_K head in q4_0 files), tensor for tensor the bytes
llama-quantize writes (rows that are not whole 256-blocks get Q8_0 where llama.cpp would use Q5_0).
Norms, biases and position embeddings stay F32. Then it
loads the original and the result and prints the perplexity of each on a text (--eval-file, or a
short built-in English text) and the mean KL divergence of their next-token distributions.
The file is written atomically; an existing OUT is refused unless --force.`

  static examples = [
    '<%= config.bin %> quantize ./Qwen2-0.5B-Instruct --type q4_k_m -o qwen2-0.5b-q4_k_m.gguf',
    '<%= config.bin %> quantize Qwen/Qwen2-0.5B-Instruct --type q8_0 --eval-file wiki.txt --json',
    '<%= config.bin %> quantize ./model-f16.gguf --type q4_0 -o model-q4_0.gguf --no-quality',
  ]

  static args = {
    model: Args.string({ description: 'Model folder, repo id, or GGUF file.', required: true }),
  }

  static flags = {
    type: Flags.string({
      description: 'Weight type of the output.',
      options: [...QUANTIZE_TYPES],
      required: true,
    }),
    output: Flags.string({ char: 'o', description: 'Output file (default: <model>-<type>.gguf here).' }),
    force: Flags.boolean({ description: 'Replace OUT if it exists.', default: false }),
    'eval-file': Flags.string({ description: 'Text to measure perplexity and KL divergence on.' }),
    quality: Flags.boolean({
      description: 'Measure perplexity and KL divergence after writing (--no-quality skips it).',
      default: true,
      allowNo: true,
    }),
    threads: Flags.integer({ char: 't', description: 'Compute threads for the quality report.', min: 1 }),
  }

  protected rendering = quantizeRendering

  async run(): Promise<QuantizeReport> {
    const { args, flags } = await this.parse(Quantize)
    // One read of the settings for both the threads and the Hub.
    const s = await settingsFor(['runtime.threads', ...HUB_KEYS])
    const threads = flags.threads ?? (s.get('runtime.threads')?.value as number | undefined)
    return runQuantize({
      model: args.model,
      type: flags.type as QuantizeType,
      output: flags.output,
      force: flags.force,
      evalFile: flags['eval-file'],
      quality: flags.quality,
      threads,
      hub: hubFromSettings(s),
      json: flags.json,
      quiet: flags.quiet,
    })
  }
}
