// kiln embed: sentence embeddings, as sentence-transformers computes them, to a file or stdout.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { type EmbedSummary, embedRendering, runEmbed } from '../cli/tasks/embed.js'
import { taskFlags, taskInput } from '../cli/tasks/task-flags.js'
import type { PoolingMode } from '../core/pipelines/index.js'

export default class Embed extends BaseCommand<EmbedSummary> {
  static summary = 'Embed texts as vectors (sentence-transformers models, or any BERT-family encoder).'
  static description =
    `Runs an encoder (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) on each TEXT, line of --file or line of stdin
and pools its token vectors into one vector per text. A sentence-transformers folder's own settings
apply (modules.json: its Pooling mode and include_prompt, Normalize; sentence_bert_config.json's
max_seq_length; config_sentence_transformers.json's prompts), so the vectors are those
SentenceTransformer.encode gives; other encoders get mean pooling and L2 normalisation.
--pooling, --normalize/--no-normalize, --prompt and --prompt-name override.
--output FILE writes .npy (float32, (N, D)), .safetensors (tensor "embeddings") or .jsonl, atomically;
without it each text's vector is a JSON line on stdout. A long file streams in batches with progress.`

  static examples = [
    '<%= config.bin %> embed -m sentence-transformers/all-MiniLM-L6-v2 "A cat sits" "A dog runs"',
    '<%= config.bin %> embed -m ./multilingual-e5-small --prompt "query: " --file questions.txt -o q.npy',
    '<%= config.bin %> embed -m ./bge-small --file corpus.jsonl --output corpus.safetensors --batch-size 64',
  ]

  static strict = false
  static args = { text: Args.string({ description: 'Texts to embed ("-" reads stdin).', required: false }) }

  static flags = {
    ...taskFlags,
    output: Flags.string({
      char: 'o',
      description: 'Write the vectors to FILE (.npy, .safetensors or .jsonl).',
    }),
    force: Flags.boolean({ description: 'Replace --output if it exists.', default: false }),
    pooling: Flags.string({
      description: 'How token vectors become one.',
      options: ['mean', 'cls', 'max', 'last', 'mean_sqrt_len'],
    }),
    normalize: Flags.boolean({
      description: 'L2-normalise each vector (--no-normalize: leave as pooled).',
      allowNo: true,
    }),
    prompt: Flags.string({ description: 'Text put before each input (e.g. "query: ").' }),
    'prompt-name': Flags.string({
      description: "A prompt of the model's config_sentence_transformers.json by name.",
    }),
  }

  protected rendering = embedRendering

  async run(): Promise<EmbedSummary> {
    const { argv, flags } = await this.parse(Embed)
    const s = await settingsFor(['runtime.threads', ...HUB_KEYS])
    return runEmbed({
      ...taskInput(argv as string[], flags, s),
      hub: hubFromSettings(s),
      output: flags.output,
      force: flags.force,
      pooling: flags.pooling as PoolingMode | undefined,
      normalize: flags.normalize,
      prompt: flags.prompt,
      promptName: flags['prompt-name'],
    })
  }
}
