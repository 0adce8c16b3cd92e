/**
 * Chat templates: the model's Jinja template rendered with @huggingface/jinja, and reduced to the
 * five joints the engine needs (it has no Jinja): the text before the first user message (with and
 * without a system prompt), between the system prompt and the first user message, between a user
 * message and the reply (the generation prompt), and between a reply and the next user message.
 * The reduction renders conversations of marker messages, cuts at the markers and keeps the
 * joints only when every conversation shape is rebuilt from them exactly; otherwise it says why.
 */
import { Template } from '@huggingface/jinja';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';

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

/**
 * A template is a program (loops, joins, string repeats) and a model file can hold any: rendering
 * runs in a child node with a heap limit, killed after a time limit, each text cut off at a length
 * no chat prompt reaches. (A worker thread is not enough: an array too large for V8 aborts the
 * whole process, not the thread.)
 */
export const RENDER_LIMITS = { seconds: 10, heapMb: 128, chars: 1 << 16 };

const CHILD = `
const { Template } = require(process.argv[1]);
const job = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
let reply;
try {
  const t = new Template(job.template);
  reply = { texts: job.contexts.map((c) => {
    const text = t.render(c);
    if (text.length > job.chars) throw new Error('a rendered conversation is longer than ' + job.chars + ' characters');
    return text;
  }) };
} catch (e) {
  reply = { error: String((e && e.message) || e).slice(0, 120) };
}
process.stdout.write(JSON.stringify(reply));
`;

/** Renders each (messages, generation prompt) of `convs` within RENDER_LIMITS, or a ChatTemplateError saying which limit. */
function renderBounded(template: string, convs: [ChatMessage[], boolean][], tokens: TemplateTokens): string[] {
  const contexts = convs.map(([messages, gen]) => ({ messages, bos_token: tokens.bosToken, eos_token: tokens.eosToken, add_generation_prompt: gen }));
  const jinja = createRequire(import.meta.url).resolve('@huggingface/jinja');
  const r = spawnSync(process.execPath, [`--max-old-space-size=${RENDER_LIMITS.heapMb}`, '-e', CHILD, jinja], {
    input: JSON.stringify({ template, contexts, chars: RENDER_LIMITS.chars }),
    timeout: RENDER_LIMITS.seconds * 1000,
    maxBuffer: contexts.length * RENDER_LIMITS.chars * 8,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  if (r.status !== 0) throw new ChatTemplateError(`rendering it takes more than ${RENDER_LIMITS.seconds} s or ${RENDER_LIMITS.heapMb} MB (a loop or a join without bound)`);
  const reply = JSON.parse(r.stdout) as { texts?: string[]; error?: string };
  if (reply.error !== undefined) throw new ChatTemplateError(`rendering it fails: ${reply.error}`);
  return reply.texts!;
}

/** The joints of `template`, or a ChatTemplateError naming what the engine could not reproduce. */
export function reduceTemplate(template: string, tokens: TemplateTokens): ChatJoints {
  const conv = (roles: ChatMessage['role'][], pad = '') => roles.map((role, i) => ({ role, content: `${pad}${marker(i)}${pad}` }));
  // every shape the engine produces, rebuilt from the joints below, must be the template's text
  const shapes: ChatMessage['role'][][] = [['user'], ['system', 'user'], ['user', 'assistant', 'user'], ['system', 'user', 'assistant', 'user', 'assistant', 'user'], ['user', 'assistant', 'user', 'assistant', 'user']];
  const checks = shapes.flatMap((roles) => ['', ' '].map((pad) => ({ roles, m: conv(roles, pad) })));
  const convs: [ChatMessage[], boolean][] = [[conv(['system', 'user', 'assistant', 'user']), true], [conv(['user', 'assistant', 'user']), true], [conv(['user'], '  '), true], ...checks.map((c): [ChatMessage[], boolean] => [c.m, true])];
  const [withSystemText, noSystemText, padded, ...wanted] = renderBounded(template, convs, tokens);
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
  const withSystem = cut(withSystemText, 4);
  const noSystem = cut(noSystemText, 3);
  const j: ChatJoints = {
    start: noSystem[0],
    startSystem: withSystem[0],
    systemToUser: withSystem[1],
    userToAssistant: noSystem[3],
    assistantToUser: noSystem[2],
    trim: !padded.includes(`  ${marker(0)}`),
  };
  checks.forEach(({ roles, m }, i) => {
    const want = wanted[i];
    const got = jointText(j, m, true);
    if (got !== want) {
      const at = [...got].findIndex((c, k) => c !== want[k]);
      throw new ChatTemplateError(`a ${roles.join(', ')} conversation is not the same text built from per-role prefixes and suffixes (they differ at character ${at < 0 ? Math.min(got.length, want.length) : at}: ${JSON.stringify(want.slice(Math.max(0, at - 10), at + 20))})`);
    }
  });
  return j;
}
