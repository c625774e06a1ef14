// kiln generate: text from a prompt, streamed as it is decoded.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type GenerateReport, generateRendering, runGenerate } from '../cli/generate.js'
import { origin, settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { DeviceError } from '../core/errors.js'

/** Settings generate reads (flag > env > settings file > default; see docs/config.md). */
const KEYS = [
  'generate.model',
  'generate.max_new_tokens',
  'generate.temperature',
  'generate.top_p',
  'generate.top_k',
  'runtime.device',
  'runtime.threads',
  'runtime.dtype',
  ...HUB_KEYS,
]

export default class Generate extends BaseCommand<GenerateReport> {
  static summary = 'Generate text from a prompt with a model folder, a GGUF file or a Hub repo.'
  static description =
    `Runs a causal language model (llama, mistral, qwen2, gpt2) on the CPU with kiln's native kernels. -m takes a Hugging Face model folder, a GGUF file (F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q6_K), or a repo id org/name[@rev] fetched through the Hugging Face cache on first use. Without -m it uses the tiny default model that ships with kiln (or generate.model from the settings). The prompt comes from PROMPT, or from stdin when PROMPT is "-" or absent and stdin is not a terminal. Tokens stream to stdout as they are decoded; timings go to stderr.

Each option not given as a flag comes from the environment (KILN_GENERATE_TEMPERATURE, KILN_RUNTIME_THREADS, HF_TOKEN, …), then the settings file (\`kiln config\`), then the default. Sampling options set nowhere are left to the model's generation_config.json. This build runs on the CPU: --device cuda (or runtime.device: cuda) is refused.`

  static examples = [
    '<%= config.bin %> generate "Once upon a time"',
    '<%= config.bin %> generate -m ./Llama-3.2-1B-Instruct --chat "Why is the sky blue?" --max-new-tokens 200',
    'echo "The capital of France is" | <%= config.bin %> generate -m ./qwen2 --temperature 0.7 --seed 1 --json',
    '<%= config.bin %> generate -m ./gpt2 --prompts-file prompts.jsonl',
    '<%= config.bin %> generate -m Qwen/Qwen2-0.5B-Instruct --chat "Hello"',
    '<%= config.bin %> generate -m ./qwen2-0.5b-q4_k_m.gguf "The capital of France is" --temperature 0',
    '<%= config.bin %> generate -m ./Qwen2-0.5B --adapter ./my-lora "Summarize: …"',
    'KILN_GENERATE_MAX_NEW_TOKENS=64 <%= config.bin %> generate "Hello" --quiet',
  ]

  static args = {
    prompt: Args.string({ description: 'Prompt text; "-" reads stdin.', required: false }),
  }

  static flags = {
    model: Flags.string({ char: 'm', description: 'Model folder (default: the embedded default model).' }),
    adapter: Flags.string({
      description:
        'PEFT LoRA adapter folder or repo id, applied at load without merging (the base stays as stored).',
    }),
    'max-new-tokens': Flags.integer({ description: 'Tokens to generate at most.', min: 0 }),
    'min-new-tokens': Flags.integer({ description: 'EOS is suppressed until this many tokens.', min: 0 }),
    temperature: Flags.string({ description: 'Sampling temperature; 0 = greedy.' }),
    'top-k': Flags.integer({ description: 'Keep the k most likely tokens (0 = off).', min: 0 }),
    'top-p': Flags.string({
      description: 'Nucleus sampling: keep the smallest set with this probability mass.',
    }),
    'min-p': Flags.string({ description: 'Drop tokens less likely than min-p × the top token.' }),
    'repetition-penalty': Flags.string({
      description: 'Penalty for tokens already in the sequence (1 = off).',
    }),
    seed: Flags.integer({ description: 'Seed for reproducible sampling.' }),
    stop: Flags.string({
      description: 'Stop when the text contains this string (repeatable).',
      multiple: true,
    }),
    chat: Flags.boolean({
      description: "Apply the model's chat template to PROMPT as a user message.",
      default: false,
    }),
    system: Flags.string({ description: 'System message for --chat.' }),
    threads: Flags.integer({ char: 't', description: 'Compute threads (default: number of cores).' }),
    device: Flags.string({
      description: 'Device to run on (this build: the CPU).',
      options: ['auto', 'cpu', 'cuda'],
    }),
    dtype: Flags.string({
      description: 'Weight type to compute in (auto: as stored).',
      options: ['auto', 'f32', 'f16', 'bf16'],
    }),
    'json-schema': Flags.string({
      description:
        'JSON schema file: the output is JSON matching it (decoding is constrained token by token; generation ends when the JSON is complete).',
    }),
    'prompts-file': Flags.string({
      description: 'JSONL file of {"prompt": ...}; one batch, one JSON line out per prompt.',
    }),
  }

  protected rendering = generateRendering

  async run(): Promise<GenerateReport> {
    const { args, flags } = await this.parse(Generate)
    const s = await settingsFor(KEYS)
    const setting = <T>(key: string) => s.get(key)?.value as T | undefined
    const text = (key: string) => (s.get(key)?.value === undefined ? undefined : String(s.get(key)?.value))
    const device = flags.device ?? setting<string>('runtime.device')
    if (device === 'cuda') {
      const from = flags.device ? '--device' : origin(s.get('runtime.device')!)
      throw new DeviceError(
        `device cuda (from ${from}): this build of kiln runs on the CPU only; use cpu or auto`,
      )
    }
    return runGenerate({
      prompt: args.prompt,
      model: flags.model ?? setting<string>('generate.model'),
      adapter: flags.adapter,
      maxNewTokens: flags['max-new-tokens'] ?? setting<number>('generate.max_new_tokens'),
      minNewTokens: flags['min-new-tokens'],
      temperature: flags.temperature ?? text('generate.temperature'),
      topK: flags['top-k'] ?? setting<number>('generate.top_k'),
      topP: flags['top-p'] ?? text('generate.top_p'),
      minP: flags['min-p'],
      repetitionPenalty: flags['repetition-penalty'],
      seed: flags.seed,
      stop: flags.stop,
      chat: flags.chat,
      system: flags.system,
      threads: flags.threads ?? setting<number>('runtime.threads'),
      dtype: (flags.dtype ?? setting<string>('runtime.dtype')) as 'auto' | 'f32' | 'f16' | 'bf16' | undefined,
      hub: hubFromSettings(s),
      promptsFile: flags['prompts-file'],
      jsonSchema: flags['json-schema'],
      json: flags.json,
    })
  }
}
