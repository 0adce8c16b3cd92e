import { describe, expect, it } from 'vitest';
import { ChatTemplateError, jointText, reduceTemplate, renderChat, type ChatMessage } from '../../src/reference/chat.js';
import { TEMPLATES } from '../helpers/templates.js';

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
