// The files of a Hugging Face model folder beside its config and weights that readers of a copy
// need (tokenizer, chat template, generation defaults): what an export or a fine-tuned model
// folder carries over from its source (those present are copied).
export const MODEL_SIDECARS: readonly string[] = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
]
