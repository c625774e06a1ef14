// kiln serve: an OpenAI-compatible HTTP server over one model (a generator with continuous batching,
// or an encoder for embeddings and classification).
import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runServe, type ServeInput, type ServeReport, serveRendering } from '../cli/serve.js'
import { parseAdapterSpecs } from '../cli/serve-adapters.js'
import { origin, settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { parseSize } from '../cli/size.js'
import { DeviceError } from '../core/errors.js'

/** Settings serve reads (flag > env > settings file > default; see docs/config.md). */
const KEYS = [
  'serve.model',
  'serve.host',
  'serve.port',
  'serve.api_key',
  'serve.served_model_name',
  'serve.context',
  'serve.max_seqs',
  'serve.max_queue',
  'serve.kv_blocks',
  'serve.kv_memory',
  'serve.prefix_cache',
  'serve.threads',
  'serve.chat_template',
  'serve.grace_period',
  'serve.adapters',
  'serve.engine',
  'runtime.device',
  'runtime.threads',
  'runtime.dtype',
  ...HUB_KEYS,
]

export default class Serve extends BaseCommand<ServeReport> {
  static summary = 'Serve a model over an OpenAI-compatible HTTP API, with continuous batching.'
  static description =
    `Loads a causal language model (a folder, a GGUF file or a Hub repo id, as for generate; without -m: serve.model, else the tiny default model) and serves it on /v1/models, /v1/completions and /v1/chat/completions (streamed or not, n choices, stop strings, seeds), plus /tokenize, /detokenize, /health and Prometheus /metrics. Requests share forward steps: up to --max-seqs sequences run at once, --max-queue more wait, beyond that clients get 429.

An encoder (BERT, DistilBERT, RoBERTa, XLM-RoBERTa; config.json's model_type says which) is served for embeddings instead: /v1/embeddings as OpenAI's (text or token ids, float or base64, dimensions), pooled as its sentence-transformers folder says or else mean + L2 normalisation, and /classify as vLLM's for a sequence classifier; the generation routes answer 400. Inputs of concurrent requests share forward passes of up to --max-seqs inputs.

Prints one line with the URL once it listens (--json: JSON events on stdout: ready, one per request, shutdown). With --api-key (better: KILN_SERVE_API_KEY, so it stays out of the process list) every route but /health and /metrics needs "Authorization: Bearer <key>". SIGTERM or SIGINT drains: /health and new requests get 503, running ones get --grace-period seconds to finish, then the server exits 0; a second signal exits at once (130 for SIGINT, 143 for SIGTERM).

With --engine vllm (GPU fleets) kiln hands the same model, address, key, context, name and chat template to \`vllm serve\` instead, waits for its /health, prints the same ready line, forwards signals and exits with vLLM's status; a GGUF file is refused there. Each option not given as a flag comes from KILN_SERVE_* variables, then the settings file, then the default.`

  static examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve -m Qwen/Qwen2-0.5B-Instruct --port 8000',
    'KILN_SERVE_API_KEY=secret <%= config.bin %> serve -m ./qwen2-0.5b-q4_k_m.gguf --host 0.0.0.0 --max-seqs 8',
    '<%= config.bin %> serve -m ./model --served-model-name my-model --chat-template ./chat.jinja --json',
    '<%= config.bin %> serve --port 0 --json   # any free port; the ready event says which',
    '<%= config.bin %> serve -m sentence-transformers/all-MiniLM-L6-v2 --port 8001   # /v1/embeddings',
    '<%= config.bin %> serve --engine vllm -m Qwen/Qwen2-0.5B-Instruct --host 0.0.0.0 --port 8000',
  ]

  static flags = {
    model: Flags.string({
      char: 'm',
      description:
        'Model folder, GGUF file or repo id (default: serve.model, else the embedded default model).',
    }),
    host: Flags.string({
      description: 'Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).',
    }),
    port: Flags.integer({
      description: 'Port to listen on (default 8080; 0 picks a free one).',
      min: 0,
      max: 65535,
    }),
    'api-key': Flags.string({
      description: 'Key clients must send as "Authorization: Bearer <key>" (prefer KILN_SERVE_API_KEY).',
    }),
    'served-model-name': Flags.string({
      description: 'Model name for requests and /v1/models (default: the model argument or its folder name).',
    }),
    context: Flags.integer({
      description:
        "Positions per sequence, prompt and completion together (default: the model's, at most 4096).",
      min: 2,
    }),
    'max-seqs': Flags.integer({
      description: 'Sequences run at once, each with a KV cache slot (default 16).',
      min: 1,
    }),
    'max-queue': Flags.integer({
      description: 'Sequences that may wait for a slot; beyond it requests get 429 (default 256).',
      min: 0,
    }),
    'kv-blocks': Flags.integer({
      description: 'KV cache blocks to allocate (default: enough for every sequence to fill its context).',
      min: 1,
    }),
    'kv-memory': Flags.string({
      description:
        'KV cache size in bytes instead of blocks: 2GiB, 512MiB, 800MB (as many whole blocks as fit).',
      exclusive: ['kv-blocks'],
    }),
    'prefix-cache': Flags.boolean({
      description: 'Reuse the KV cache of prompt prefixes earlier requests computed (default on).',
      allowNo: true,
    }),
    threads: Flags.integer({
      char: 't',
      description: 'Compute threads (default: serve.threads, else runtime.threads).',
      min: 1,
    }),
    dtype: Flags.string({
      description: 'Weight type to compute in (auto: as stored).',
      options: ['auto', 'f32', 'f16', 'bf16'],
    }),
    device: Flags.string({
      description: 'Device to run on (this build: the CPU).',
      options: ['auto', 'cpu', 'cuda'],
    }),
    adapter: Flags.string({
      description:
        'A LoRA adapter served beside the model, NAME=DIR (a PEFT folder or repo id); a request names it as its model. Repeatable.',
      multiple: true,
    }),
    'chat-template': Flags.string({
      description: "Jinja chat template file used instead of the model's own.",
    }),
    'grace-period': Flags.integer({
      description: 'Seconds running requests get to finish after SIGTERM/SIGINT (default 30).',
      min: 0,
    }),
    engine: Flags.string({
      description: "What runs the model: kiln's own engine, or vLLM for GPU fleets (default kiln).",
      options: ['kiln', 'vllm'],
    }),
  }

  protected rendering = serveRendering

  async run(): Promise<ServeReport> {
    const { flags } = await this.parse(Serve)
    const s = await settingsFor(KEYS)
    const setting = <T>(key: string) => s.get(key)?.value as T | undefined
    // A value someone chose (flag, env, settings file), not kiln's default: vLLM keeps its own.
    const chosen = <T>(key: string) => (s.get(key)?.source === 'default' ? undefined : setting<T>(key))
    const dtype = (flags.dtype ?? setting<string>('runtime.dtype')) as ServeInput['dtype']
    const common = {
      model: flags.model ?? setting<string>('serve.model'),
      host: flags.host ?? setting<string>('serve.host') ?? '127.0.0.1',
      port: flags.port ?? setting<number>('serve.port') ?? 8080,
      apiKey: flags['api-key'] ?? setting<string>('serve.api_key'),
      servedModelName: flags['served-model-name'] ?? setting<string>('serve.served_model_name'),
      context: flags.context ?? setting<number>('serve.context'),
      dtype,
      chatTemplate: flags['chat-template'] ?? setting<string>('serve.chat_template'),
      gracePeriod: flags['grace-period'] ?? setting<number>('serve.grace_period') ?? 30,
      adapters: flags.adapter
        ? parseAdapterSpecs(flags.adapter, '--adapter')
        : parseAdapterSpecs(setting<string>('serve.adapters')?.split(',') ?? [], 'serve.adapters'),
      hub: hubFromSettings(s),
      json: flags.json,
      quiet: flags.quiet,
    }
    if ((flags.engine ?? setting<string>('serve.engine')) === 'vllm') {
      const { runVllm } = await import('../cli/serve-vllm.js')
      return runVllm({
        ...common,
        maxSeqs: flags['max-seqs'] ?? chosen<number>('serve.max_seqs'),
        prefixCache: flags['prefix-cache'] ?? chosen<boolean>('serve.prefix_cache'),
        flags,
      })
    }
    const device = flags.device ?? setting<string>('runtime.device')
    if (device === 'cuda') {
      const from = flags.device ? '--device' : origin(s.get('runtime.device')!)
      throw new DeviceError(
        `device cuda (from ${from}): this build of kiln runs on the CPU only; use cpu or auto, or --engine vllm`,
      )
    }
    return runServe({
      ...common,
      maxSeqs: flags['max-seqs'] ?? setting<number>('serve.max_seqs') ?? 16,
      maxQueue: flags['max-queue'] ?? setting<number>('serve.max_queue') ?? 256,
      ...kvPool(
        flags['kv-blocks'],
        flags['kv-memory'],
        setting<number>('serve.kv_blocks'),
        setting<string>('serve.kv_memory'),
      ),
      prefixCache: flags['prefix-cache'] ?? setting<boolean>('serve.prefix_cache') ?? true,
      threads: flags.threads ?? setting<number>('serve.threads') ?? setting<number>('runtime.threads'),
    })
  }
}

/**
 * The KV pool's size: a flag wins over both settings (the two flags exclude each other); between
 * the settings, blocks win over bytes.
 */
function kvPool(
  blocksFlag: number | undefined,
  memoryFlag: string | undefined,
  blocksSetting: number | undefined,
  memorySetting: string | undefined,
): { kvBlocks?: number; kvMemory?: number } {
  if (blocksFlag !== undefined) return { kvBlocks: blocksFlag }
  if (memoryFlag !== undefined) return { kvMemory: parseSize(memoryFlag, '--kv-memory') }
  if (blocksSetting !== undefined) return { kvBlocks: blocksSetting }
  if (memorySetting !== undefined) return { kvMemory: parseSize(memorySetting, 'serve.kv_memory') }
  return {}
}
