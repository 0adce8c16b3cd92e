/**
 * Chat templates: the model's Jinja template rendered with @huggingface/jinja, and reduced to the
 * five joints the engine needs (it has no Jinja): the text before the first user message (with and
 * without a system prompt), between the system prompt and the first user message, between a user
 * message and the reply (the generation prompt), and between a reply and the next user message.
 * The reduction renders conversations of marker messages, cuts at the markers and keeps the
 * joints only when every conversation shape is rebuilt from them exactly; otherwise it says why.
 */
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatJoints {
  /** Before the first user message when there is no system prompt. */
  start: string;
  /** Before the system prompt. */
  startSystem: string;
  /** After the system prompt, before the first user message. */
  systemToUser: string;
  /** After a user message, before the reply: the generation prompt. */
  userToAssistant: string;
  /** After a reply, before the next user message. */
  assistantToUser: string;
  /** The template trims messages: the engine trims what the user types. */
  trim: boolean;
}

export const JOINT_KEYS = ['start', 'startSystem', 'systemToUser', 'userToAssistant', 'assistantToUser'] as const;

export interface TemplateTokens {
  bosToken: string;
  eosToken: string;
}

export function renderChat(template: string, messages: ChatMessage[], tokens: TemplateTokens, addGenerationPrompt: boolean): string {
  return new Template(template).render({ messages, bos_token: tokens.bosToken, eos_token: tokens.eosToken, add_generation_prompt: addGenerationPrompt });
}

/** The chat prompt as the joints build it: what the engine feeds, turn by turn. */
export function jointText(j: ChatJoints, messages: ChatMessage[], addGenerationPrompt: boolean): string {
  let out = '';
  let i = 0;
  const content = (m: ChatMessage) => (j.trim ? m.content.trim() : m.content);
  if (messages[0]?.role === 'system') out += j.startSystem + content(messages[i++]) + j.systemToUser;
  else out += j.start;
  for (; i < messages.length; i++) {
    const m = messages[i];
    out += content(m);
    if (m.role === 'user' && (i + 1 < messages.length || addGenerationPrompt)) out += j.userToAssistant;
    if (m.role === 'assistant' && i + 1 < messages.length) out += j.assistantToUser;
  }
  return out;
}

export class ChatTemplateError extends Error {}

const marker = (i: number) => `RETROMARK${i}X`;

/** The joints of `template`, or a ChatTemplateError naming what the engine could not reproduce. */
export function reduceTemplate(template: string, tokens: TemplateTokens): ChatJoints {
  const conv = (roles: ChatMessage['role'][], pad = '') => roles.map((role, i) => ({ role, content: `${pad}${marker(i)}${pad}` }));
  const render = (m: ChatMessage[], gen: boolean) => {
    try {
      return renderChat(template, m, tokens, gen);
    } catch (e) {
      throw new ChatTemplateError(`rendering it fails: ${(e as Error).message.slice(0, 120)}`);
    }
  };
  const cut = (text: string, n: number): string[] => {
    const out: string[] = [];
    let at = 0;
    for (let i = 0; i < n; i++) {
      const k = text.indexOf(marker(i), at);
      if (k < 0) throw new ChatTemplateError(`message ${i + 1} of a conversation does not appear in the rendered text, or not in order`);
      out.push(text.slice(at, k));
      at = k + marker(i).length;
    }
    out.push(text.slice(at));
    return out;
  };
  const withSystem = cut(render(conv(['system', 'user', 'assistant', 'user']), true), 4);
  const noSystem = cut(render(conv(['user', 'assistant', 'user']), true), 3);
  const padded = render(conv(['user'], '  '), true);
  const j: ChatJoints = {
    start: noSystem[0],
    startSystem: withSystem[0],
    systemToUser: withSystem[1],
    userToAssistant: noSystem[3],
    assistantToUser: noSystem[2],
    trim: !padded.includes(`  ${marker(0)}`),
  };
  // every shape the engine produces, rebuilt from the joints, must be the template's text
  const shapes: ChatMessage['role'][][] = [['user'], ['system', 'user'], ['user', 'assistant', 'user'], ['system', 'user', 'assistant', 'user', 'assistant', 'user'], ['user', 'assistant', 'user', 'assistant', 'user']];
  for (const roles of shapes) {
    for (const pad of ['', ' ']) {
      const m = conv(roles, pad);
      const want = render(m, true);
      const got = jointText(j, m, true);
      if (got !== want) {
        const at = [...got].findIndex((c, i) => c !== want[i]);
        throw new ChatTemplateError(`a ${roles.join(', ')} conversation is not the same text built from per-role prefixes and suffixes (they differ at character ${at < 0 ? Math.min(got.length, want.length) : at}: ${JSON.stringify(want.slice(Math.max(0, at - 10), at + 20))})`);
      }
    }
  }
  return j;
}
