// A GGUF file's tensors under the Hugging Face names the model builders ask for (names from the
// shared table in gguf-names.ts), plus how the file lays them out: llama.cpp stores GPT-2's Conv1D
// weights (out, in) and permutes llama q/k rows for interleaved rope; qwen2 files are not permuted.
import type { GgufFile } from '../formats/gguf-read.js'
import type { Architecture } from './config.js'
import { ggufPermutesQK, hfNameOfGguf } from './gguf-names.js'
import type { WeightLayout, WeightView } from './weights.js'

export function ggufWeightViews(file: GgufFile, arch: Architecture): Map<string, WeightView> {
  const views = new Map<string, WeightView>()
  for (const t of file.tensors.values()) {
    const name = hfNameOfGguf(arch, t.name)
    if (name) views.set(name, { name, dtype: t.type, shape: t.shape, data: t.data, file: file.path })
  }
  return views
}

export function ggufWeightLayout(arch: Architecture): WeightLayout {
  return { conv1dTransposed: arch === 'gpt2', ropeInterleaved: ggufPermutesQK(arch) }
}
