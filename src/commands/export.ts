// kiln export: write a model in another ecosystem's format (GGUF for llama.cpp and friends, ONNX for
// ONNX Runtime and transformers.js).
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type ExportReport, exportRendering, GGUF_DTYPES, ONNX_DTYPES, runExport } from '../cli/export.js'
import { hubSettings } from '../cli/settings/hub-settings.js'

export default class Export extends BaseCommand<ExportReport> {
  static summary =
    'Convert a model to GGUF (llama.cpp, Ollama, LM Studio) or ONNX (ONNX Runtime, transformers.js).'
  static description =
    `--format gguf writes MODEL (a Hugging Face folder: llama, mistral, qwen2 or gpt2) as a GGUF v3 file with llama.cpp's tensor names and metadata, including the tokenizer and chat template; 2-D weights are stored in --dtype (f32, f16, bf16; default f16), norms and biases stay F32.
--format onnx writes the folder transformers.js and optimum use (config.json, tokenizer files, onnx/model.onnx: a decoder with past key values, or an encoder for its head's task or --task feature-extraction), from kiln's own graph of the model, then runs it in ONNX Runtime on a sample prompt and compares every logit with kiln's (--atol, default 1e-4; --no-validate skips it). MODEL may also be a GGUF file: its config and tokenizer become the Hugging Face files, and block-quantized weights are dequantized (a warning says which).
--adapter merges a PEFT LoRA adapter into MODEL first (either format).
Output is written atomically; an existing OUT is refused unless --force.`

  static examples = [
    '<%= config.bin %> export ./Qwen2-0.5B-Instruct --format gguf -o qwen2-0.5b-f16.gguf',
    '<%= config.bin %> export ./gpt2 --format gguf --dtype f32 -o gpt2.gguf --json',
    '<%= config.bin %> export ./Qwen2-0.5B-Instruct --format onnx -o qwen2-onnx',
  ]

  static args = {
    model: Args.string({ description: 'Model folder or repo id.', required: true }),
  }

  static flags = {
    format: Flags.string({ description: 'Output format.', options: ['gguf', 'onnx'], required: true }),
    dtype: Flags.string({
      description:
        'Weight type (gguf: f32, f16, bf16, default f16; onnx: fp32, fp16, q8, int8, uint8, q4, default fp32).',
      options: [...new Set([...GGUF_DTYPES, ...ONNX_DTYPES])],
    }),
    output: Flags.string({ char: 'o', description: 'Output file (gguf) or folder (onnx).', required: true }),
    force: Flags.boolean({ description: 'Replace OUT if it exists.', default: false }),
    adapter: Flags.string({
      description: 'PEFT LoRA adapter (folder or repo id) merged into the model before it is exported.',
    }),
    opset: Flags.integer({ description: 'ONNX opset (onnx; default 21).' }),
    task: Flags.string({
      description:
        "What the ONNX graph computes (onnx; default text-generation-with-past for a decoder, the head's task for an encoder).",
      options: [
        'text-generation-with-past',
        'feature-extraction',
        'text-classification',
        'token-classification',
        'fill-mask',
      ],
    }),
    optimize: Flags.string({
      description:
        "onnx: none (standard operators, default) or ort (ONNX Runtime's fused operators and genai_config.json; decoders, fp32 or q4).",
      options: ['none', 'ort'],
    }),
    validate: Flags.boolean({
      description: 'Run the ONNX export in ONNX Runtime and compare with kiln (onnx).',
      default: true,
      allowNo: true,
    }),
    atol: Flags.string({ description: 'Largest logit difference validation accepts (onnx; default 1e-4).' }),
  }

  protected rendering = exportRendering

  async run(): Promise<ExportReport> {
    const { args, flags } = await this.parse(Export)
    return runExport({
      model: args.model,
      format: flags.format as 'gguf' | 'onnx',
      output: flags.output,
      dtype: flags.dtype,
      force: flags.force,
      adapter: flags.adapter,
      opset: flags.opset,
      task: flags.task,
      optimize: flags.optimize,
      validate: flags.validate,
      atol: flags.atol === undefined ? undefined : Number(flags.atol),
      version: this.config.version,
      hub: await hubSettings(),
      json: flags.json,
      quiet: flags.quiet,
    })
  }
}
