// generation_config.json as GGUF metadata, as llama.cpp's converter writes it: end-of-generation
// tokens beyond the one EOS id (`eot` / `eom` ids, which llama.cpp stops on too), and the sampling
// settings a model recommends (`general.sampling.*`), written only when it asks to sample.
import { type GgufValue, gguf } from '../formats/gguf-types.js'
import type { ModelConfig } from '../models/config.js'
import { loadGenerationConfig } from '../models/generation-config.js'

export function generationMetadata(
  dir: string,
  config: ModelConfig,
  eosWritten: number | undefined,
  vocab: number,
  warn: (message: string) => void,
): [string, GgufValue][] {
  const gen = loadGenerationConfig(dir, config)
  const entries: [string, GgufValue][] = []
  const extra = [...new Set(gen.eosTokenIds)].filter((id) => id !== eosWritten && id >= 0 && id < vocab)
  const keys = ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']
  for (const [i, id] of extra.slice(0, keys.length).entries()) entries.push([keys[i], gguf.u32(id)])
  if (extra.length > keys.length)
    warn(
      `generation stops on ${extra.length + 1} tokens; GGUF holds 3 (eos, eot, eom): ${extra.slice(2).join(', ')} dropped`,
    )
  if (gen.doSample) {
    if (gen.temperature !== undefined) entries.push(['general.sampling.temp', gguf.f32(gen.temperature)])
    if (gen.topK !== undefined) entries.push(['general.sampling.top_k', gguf.i32(gen.topK)])
    if (gen.topP !== undefined) entries.push(['general.sampling.top_p', gguf.f32(gen.topP)])
    if (gen.minP !== undefined) entries.push(['general.sampling.min_p', gguf.f32(gen.minP)])
    if (gen.repetitionPenalty !== undefined)
      entries.push(['general.sampling.penalty_repeat', gguf.f32(gen.repetitionPenalty)])
  }
  return entries
}
