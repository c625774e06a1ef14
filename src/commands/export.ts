// kiln export: write a model in another ecosystem's format (GGUF for llama.cpp and friends).
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type ExportReport, exportRendering, runExport } from '../cli/export.js'
import { hubSettings } from '../cli/settings/hub-settings.js'

export default class Export extends BaseCommand<ExportReport> {
  static summary = 'Convert a model folder to GGUF (unquantized) for llama.cpp, Ollama, LM Studio.'
  static description =
    `Writes MODEL (a Hugging Face folder: llama, mistral, qwen2 or gpt2) as a GGUF v3 file with llama.cpp's tensor names and metadata, including the tokenizer and chat template. 2-D weights are stored in --dtype; norms and biases stay F32. The file is written atomically; an existing OUT is refused unless --force.`

  static examples = [
    '<%= config.bin %> export ./Qwen2-0.5B-Instruct --format gguf -o qwen2-0.5b-f16.gguf',
    '<%= config.bin %> export ./gpt2 --format gguf --dtype f32 -o gpt2.gguf --json',
  ]

  static args = {
    model: Args.string({ description: 'Model folder.', required: true }),
  }

  static flags = {
    format: Flags.string({ description: 'Output format.', options: ['gguf'], required: true }),
    dtype: Flags.string({
      description: 'Type of the 2-D weights.',
      options: ['f32', 'f16', 'bf16'],
      default: 'f16',
    }),
    output: Flags.string({ char: 'o', description: 'Output file.', required: true }),
    force: Flags.boolean({ description: 'Replace OUT if it exists.', default: false }),
  }

  protected rendering = exportRendering

  async run(): Promise<ExportReport> {
    const { args, flags } = await this.parse(Export)
    return runExport({
      model: args.model,
      output: flags.output,
      dtype: flags.dtype as 'f32' | 'f16' | 'bf16',
      force: flags.force,
      hub: await hubSettings(),
      json: flags.json,
      quiet: flags.quiet,
    })
  }
}
