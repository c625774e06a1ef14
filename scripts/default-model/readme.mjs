// models/default/README.md, written from the run's figures (training.json beside it).
import { writeFileSync } from 'node:fs'
import path from 'node:path'

const f2 = (x) => x.toFixed(2)
const minutes = (s) => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`

export function writeReadme(out, t) {
  const { shape, vocab, seqLen } = t.recipe
  const e = t.evaluation
  const mb = (t.modelBytes / 2 ** 20).toFixed(1)
  const samples = t.samples
    .map(
      (s) =>
        `\`\`\`console\n$ kiln generate "${s.prompt}" ${s.flags.join(' ')}\n${s.prompt}${s.text}\n\`\`\``,
    )
    .join('\n\n')
  const text = `# kiln default model

The model \`kiln generate\` (and every other command) runs when no \`-m\` is given: a small llama that
kiln trained itself, from a seeded random initialisation, with \`kiln finetune --method full\` on the
King James Bible. It writes the English of that text. It exists so that kiln works on a fresh clone
with no download; it knows nothing but the one book.

| | |
| --- | --- |
| architecture | llama: ${shape.layers} layers, hidden ${shape.hidden}, ${shape.heads} heads / ${shape.kvHeads} kv heads (head size ${shape.hidden / shape.heads}), MLP ${shape.intermediate}, untied head, RoPE |
| parameters | ${(t.parameters / 1e6).toFixed(2)} M, F32 (model.safetensors ${mb} MiB) |
| tokenizer | byte-level BPE (GPT-2's scheme), ${vocab} tokens (${vocab - 3} learned on the training split, 3 specials: \`<|endoftext|>\`, \`<|im_start|>\`, \`<|im_end|>\`), ChatML chat template |
| text | King James Bible, \`scripts/default-model/kjv.txt.gz\` (Debian \`bible-kjv-text\` 4.38; public domain) |
| split | every 10th chapter held out (${e.heldOutChapters} of ${e.heldOutChapters + e.trainChapters}); the other ${e.trainChapters} train (${(e.trainChars / 1e6).toFixed(2)} M characters, ${(t.prepared.tokens / 1e6).toFixed(2)} M tokens) |
| training | ${t.steps} steps, ${(t.tokensTrained / 1e6).toFixed(2)} M tokens (${(t.tokensTrained / t.prepared.tokens).toFixed(1)} epochs) in ${minutes(t.seconds)} on ${t.cpus} (${Math.round(t.tokensPerSecond)} tokens/s); final training loss ${t.finalLoss.toFixed(3)}, eval loss ${t.finalEvalLoss?.toFixed(3)} (nats per token; the eval records are every 8th held-out one) |

## How it was made

\`\`\`sh
node scripts/make-default-model.mjs
\`\`\`

trains the tokenizer on the training chapters, writes the seeded initialisation (seed ${t.recipe.initSeed},
GPT-2-style: normal, std 0.02, residual projections scaled by 1/√(2·layers); sha256 of its
model.safetensors \`${t.prepared.initSha256}\`), cuts the training chapters into ${t.prepared.records}
records of whole verses of at most ${seqLen} tokens, and runs

\`\`\`sh
${t.command}
\`\`\`

The machine was shared (load average ${t.loadAverage.map(f2).join(' / ')} over 1/5/15 minutes when
the run ended), so the wall-clock time above is an upper bound. The run's fastest 100 consecutive
steps took ${t.fastest100Steps.secondsPerStep.toFixed(2)} s each (${t.fastest100Steps.tokensPerSecond} tokens/s): at that pace the ${t.steps} steps take
${minutes(t.fastest100Steps.secondsPerStep * t.steps)}, the run's length on an idle machine (the eval losses and the preparation add about a minute).

## Held-out perplexity

\`node scripts/make-default-model.mjs evaluate\` scores the ${e.heldOutChapters} held-out chapters, cut into records as the
training text was (${e.records} records, ${e.tokens} predicted tokens, each record scored from its own start):

| model | perplexity (per token) | bits per character |
| --- | --- | --- |
| this model | **${f2(e.modelPerplexity)}** | ${f2(e.modelBitsPerChar)} |
| token bigram, ${e.bigram.smoothing} (${Object.entries(e.bigram.params)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}) | ${f2(e.bigramPerplexity)} | ${f2(e.bigramBitsPerChar)} |

The bigram is fitted on the same training records with the same tokenizer, and given its best shot:
interpolated Kneser–Ney and Jelinek–Mercer smoothing each had their parameters chosen on a
development tenth of the training records, and the better of the two is shown. The model's
perplexity is **${f2(e.ratio)}× lower** than the bigram's.

## Samples

With the settings of \`generation_config.json\` (temperature 0.8) unless the flags say otherwise:

${samples}
`
  writeFileSync(path.join(out, 'README.md'), text)
}
