// genai_config.json, the file onnxruntime-genai reads beside a decoder (its published format:
// onnxruntime.ai/docs/genai/reference/config.html): the model's shape, the graph's input and output
// names, and the default search. Written with --optimize ort, whose graph is the model builder's kind.
import type { ModelConfig } from '../../models/config.js'

export function genaiConfig(cfg: ModelConfig, file: string): Record<string, unknown> {
  const eos = cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : cfg.eosTokenIds
  return {
    model: {
      bos_token_id: cfg.bosTokenId ?? cfg.eosTokenIds[0] ?? 0,
      context_length: cfg.maxPositions,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
        filename: file,
        head_size: cfg.headDim,
        hidden_size: cfg.hiddenSize,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          position_ids: 'position_ids',
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: {
          logits: 'logits',
          present_key_names: 'present.%d.key',
          present_value_names: 'present.%d.value',
        },
        num_attention_heads: cfg.numHeads,
        num_hidden_layers: cfg.numLayers,
        num_key_value_heads: cfg.numKvHeads,
      },
      eos_token_id: eos ?? 0,
      pad_token_id: cfg.padTokenId ?? cfg.eosTokenIds[0] ?? 0,
      type: cfg.architecture,
      vocab_size: cfg.vocabSize,
    },
    search: {
      diversity_penalty: 0.0,
      do_sample: false,
      early_stopping: true,
      length_penalty: 1.0,
      max_length: cfg.maxPositions,
      min_length: 0,
      no_repeat_ngram_size: 0,
      num_beams: 1,
      num_return_sequences: 1,
      // present is a new tensor each step (GroupQueryAttention without a shared buffer)
      past_present_share_buffer: false,
      repetition_penalty: 1.0,
      temperature: 1.0,
      top_k: 1,
      top_p: 1.0,
    },
  }
}
