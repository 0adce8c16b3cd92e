/** yargs command modules, registered from an explicit list (commandDir does not work in ESM). */
import type { CommandModule } from 'yargs';
import { runBuild } from '../core/build.js';
import { installPackages, missingPackages, runDoctor } from '../core/doctor.js';
import { runChat, runGenerate } from '../core/generate.js';
import { runInspect } from '../core/inspect.js';
import { runPlan } from '../core/plan.js';
import { runQuality } from '../core/quality.js';
import { runTargets } from '../core/targets.js';
import { parseModes, runVerify } from '../core/verify.js';
import { machineTarget } from '../core/run.js';
import { UsageError } from '../errors.js';
import { quantKind, type IntQuantKind, type QuantKind } from '../quant/kinds.js';
import type { KvCacheKind } from '../reference/model.js';
import { consoleOutput, print, printJson, printVerify, stdinLine, table } from './io.js';
import { intQuantOption, jsonOption, kvCacheOption, modelOptions, parseSeed, promptBytes, quantOptions, samplingOptions, targetOptions } from './options.js';
import { cacheDir } from './cache.js';
import { remoteCommands, remoteOptions, runOnMachine, type RemoteArgs } from './remote.js';

const progress = (m: string) => process.stderr.write(`retro: ${m}\n`);

interface GenerateArgs {
  model: string;
  tokenizer?: string;
  temperature: number;
  topp: number;
  seed?: string;
  steps: number;
  prompt?: string;
  'prompt-file'?: string;
  chat?: boolean;
  system?: string;
  json?: boolean;
}

const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'run the TypeScript reference engine (flags and output as llama2.c run)',
  builder: (y) =>
    jsonOption(samplingOptions(modelOptions(y, 'model: llama2.c .bin (v0/v1/v2), GGUF or a Hugging Face folder').demandOption('model'), { temperature: 1.0, steps: 256 }))
      .option('prompt-file', { type: 'string', describe: 'read the prompt bytes from a file' })
      .option('chat', { type: 'boolean', describe: "chat: user turns from stdin, one a line, in the model's template (as the engine's -m chat)" })
      .option('system', { type: 'string', describe: 'system prompt for --chat (the engine\'s -y)' }) as never,
  handler: (a) => {
    if (a.chat) {
      runChat({ model: a.model, tokenizer: a.tokenizer, temperature: a.temperature, topp: a.topp, seed: parseSeed(a.seed), steps: a.steps, system: a.system, nextTurn: stdinLine }, consoleOutput);
      return;
    }
    const r = runGenerate(
      { model: a.model, tokenizer: a.tokenizer, temperature: a.temperature, topp: a.topp, seed: parseSeed(a.seed), steps: a.steps, prompt: promptBytes(a.prompt, a['prompt-file']) },
      a.json ? { stdout: () => {}, stderr: () => {} } : consoleOutput,
    );
    // One line: prompt ids (BOS included), generated ids and their text, to compare with another implementation.
    if (a.json) print(JSON.stringify(r.generated));
  },
};

interface InspectArgs {
  model: string;
  targets?: string;
  json?: boolean;
}

const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <model>',
  describe: 'what a model file or Hugging Face folder holds, and what retro plan says about it on each target',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'llama2.c .bin, GGUF, retro model.rtr or Hugging Face folder' })
      .option('targets', { type: 'string', describe: 'a folder of your own profiles' })
      .option('json', { type: 'boolean', describe: 'machine-readable output' }) as never,
  handler: (a) => {
    const r = runInspect({ model: a.model, targetsDir: a.targets });
    if (a.json) {
      printJson(r);
      return;
    }
    const c = r.config;
    const mb = (n: number) => (n / 1048576).toFixed(2);
    print(`${r.path}: ${r.format}, architecture ${r.architecture}`);
    print(`  family: ${r.family.norms}; ${r.family.activation} FFN; RoPE on ${r.family.rope}; layer tensors ${r.family.layer.join(', ')}`);
    print(`shape: dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} KV), head size ${c.headSize}, vocab ${c.vocabSize}, context ${c.seqLen}`);
    print(`arithmetic: RoPE theta ${c.ropeTheta}${c.ropeFreqFactors ? ' with frequency factors (Llama 3 scaling)' : ''}, RMSNorm eps ${+c.normEps.toPrecision(6)}, output ${r.sharedClassifier ? 'tied to the embedding' : 'separate'}`);
    if (r.types) print(table(['type', 'tensors', 'MB'], r.types.map((t) => [t.type, String(t.tensors), mb(t.bytes)])));
    else print(`weights: ${r.storage} (llama2.c layout)`);
    const t = r.tokenizer;
    print(
      t
        ? `tokenizer: ${t.kind}, ${t.size} tokens, BOS ${t.bosId}, EOS ${t.eosId}${t.eotId !== undefined ? `, EOT ${t.eotId}` : ''}, chat template ${t.chatTemplate ? 'present' : 'absent'}${t.readable ? '' : ` (not usable yet: ${t.problem ?? 'pass --tokenizer'})`}`
        : 'tokenizer: none embedded (pass --tokenizer)',
    );
    print(table(['target', 'verdict', 'recommended', 'est. tok/s', 'why'], r.plans.map((p) => [p.target, p.verdict, p.recommended ?? '-', p.tokensPerSecond?.toPrecision(3) ?? '-', p.why])));
  },
};

interface TargetsArgs {
  json?: boolean;
  targets?: string;
}

const targetsCommand: CommandModule<object, TargetsArgs> = {
  command: 'targets',
  describe: 'list the target profiles',
  builder: (y) => jsonOption(y).option('targets', { type: 'string', describe: 'a folder of your own profiles' }) as never,
  handler: (a) => {
    const profiles = runTargets(a.targets);
    if (a.json) {
      printJson(profiles);
      return;
    }
    print(
      table(
        ['id', 'name', 'cpu', 'MHz', 'order', 'simd', 'RAM MB', 'cross builds'],
        profiles.map((p) => [p.id, p.name, p.cpu.family, String(p.cpu.clockMhz), p.cpu.byteOrder, p.cpu.simd.join(',') || '-', String(p.memory.ramMb), p.cross.map((c) => c.id).join(', ')]),
      ),
    );
  },
};

interface BuildArgs {
  target: string;
  targets?: string;
  model?: string;
  tokenizer?: string;
  quant: QuantKind;
  'group-size': number;
  out?: string;
  compile: boolean;
  stream?: boolean;
  'ram-budget'?: number;
  'seq-len'?: number;
  auto?: boolean;
  force?: boolean;
  'kv-cache': KvCacheKind;
  json?: boolean;
}

const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'convert a model and emit C source, build scripts and binaries for a target',
  builder: (y) =>
    kvCacheOption(jsonOption(quantOptions(modelOptions(targetOptions(y, true)), { default: 'f32', describe: 'weight storage on the target' })))
      .option('out', { alias: 'o', type: 'string', describe: 'output folder (default dist/<target>)' })
      .option('compile', { type: 'boolean', default: true, describe: 'compile with the cross compilers found here (--no-compile to skip)' })
      .option('force', { type: 'boolean', describe: 'replace --out even when it holds files retro did not make' })
      .option('stream', { type: 'boolean', describe: 'always stream the weights from disk (else only when they do not fit the RAM budget)' })
      .option('ram-budget', { type: 'number', describe: "the engine's default RAM budget in MB (default: what the machine leaves a program)" })
      .option('seq-len', { type: 'number', describe: 'cap the context, and so the KV cache' })
      .option('auto', { type: 'boolean', describe: 'let retro plan choose quantization, streaming and context' }) as never,
  handler: async (a) => {
    const r = await runBuild(
      { target: a.target, targetsDir: a.targets, model: a.model, tokenizer: a.tokenizer, quant: a.quant, groupSize: a['group-size'], out: a.out, compile: a.compile, stream: a.stream, ramBudgetMb: a['ram-budget'], seqLen: a['seq-len'], auto: a.auto, force: a.force, kvCache: a['kv-cache'] },
      a.json ? () => {} : progress,
    );
    if (a.json) {
      printJson({ target: r.profile.id, out: r.out, model: r.model, kernels: r.kernels, files: r.files, binaries: r.binaries.map((b) => ({ id: b.build.id, status: b.status, file: b.file ?? null, reason: b.reason ?? null, checks: b.checks })), seconds: r.seconds });
      return;
    }
    const mb = (n: number) => `${(n / 1048576).toFixed(2)} MB`;
    print(`built ${r.profile.id} (${r.profile.name}) in ${r.out}`);
    print(`model: ${r.model.description}`);
    print(`  source ${mb(r.model.sourceBytes)} -> ${r.model.quant} ${mb(r.model.nativeBytes)} (${r.profile.cpu.byteOrder}-endian); kernels: ${r.kernels.join(', ')}`);
    print(table(['file', 'bytes', 'role', 'sha256'], r.files.map((f) => [f.name, String(f.bytes), f.role, f.sha256.slice(0, 16)])));
    for (const b of r.binaries) {
      if (b.status === 'built') print(`binary ${b.file}: ${b.build.description}${b.checks.map((c) => `; ${c.kind}: ${c.detail}`).join('')}`);
      else print(`binary ${b.build.output}: not built: ${b.reason}`);
    }
  },
};

interface PlanArgs {
  target: string;
  targets?: string;
  model?: string;
  tokenizer?: string;
  quant?: QuantKind;
  'group-size': number;
  'seq-len'?: number;
  'ram-budget'?: number;
  prompt?: string;
  'kv-cache': KvCacheKind;
  json?: boolean;
}

const planCommand: CommandModule<object, PlanArgs> = {
  command: 'plan',
  describe: 'what a model needs on a target: memory, whether it fits (in RAM or streamed), the best setup, estimated speed',
  builder: (y) =>
    kvCacheOption(jsonOption(quantOptions(modelOptions(targetOptions(y, true)), { describe: 'only this quantization (default: compare them)' })))
      .option('seq-len', { type: 'number', describe: 'cap the context' })
      .option('ram-budget', { type: 'number', describe: 'RAM budget in MB (default: what the machine leaves a program)' })
      .option('prompt', { alias: 'i', type: 'string', describe: "the prompt the engine's peak allocation is counted with (default none)" }) as never,
  handler: (a) => {
    const r = runPlan({ target: a.target, targetsDir: a.targets, model: a.model, tokenizer: a.tokenizer, quant: a.quant, groupSize: a['group-size'], seqLen: a['seq-len'], ramBudgetMb: a['ram-budget'], kvCache: a['kv-cache'], prompt: a.prompt });
    const mb = (n: number) => (n / 1048576).toFixed(1);
    if (a.json) {
      printJson({ target: r.profile.id, model: r.model, kvCache: a['kv-cache'], usableMb: r.usableMb, budgetBytes: r.budgetBytes, verdict: r.verdict, why: r.why, options: r.options, recommendation: r.recommendation ?? null, estimate: r.estimate ?? null, int8Cache: r.int8Cache ?? null });
      return;
    }
    print(`${r.profile.name}: ${r.profile.memory.ramMb} MB RAM, ${r.profile.memory.osReservedMb} MB kept by the OS, ${mb(r.budgetBytes)} MB budget for retro`);
    print(`model: ${r.model}`);
    print(
      table(
        ['quant', 'context', 'weights', 'engine MB', 'file MB', 'read/token MB', 'est. tok/s', 'fits'],
        r.options.map((o) => [o.quant, String(o.seqLen), o.mode === 'ram' ? 'in RAM' : 'streamed', mb(o.allocated), mb(o.fileBytes), o.mode === 'stream' && o.memory ? mb(o.memory.readPerToken) : '-', o.estimate ? o.estimate.tokensPerSecond.toPrecision(3) : '-', o.fits ? 'yes' : `no: ${o.why}`]),
      ),
    );
    print(`verdict: ${r.verdict} (${r.why})`);
    if (r.recommendation) {
      const o = r.recommendation;
      const streams = o.mode === 'stream' && o.memory ? `; streamed by the budget: ${o.memory.residentLayers ?? 0} of ${r.config.nLayers} layers resident, ${mb(o.memory.readPerToken)} MB read from disk per token` : '';
      print(`recommended: --quant ${o.quant}${o.seqLen < r.config.seqLen ? ` --seq-len ${o.seqLen}` : ''} (the fastest that fits by the estimates${streams}; retro build --auto applies it)`);
      print(`quality cost of ${o.quant}: ${quantKind(o.quant).guard.cost}${o.quant === 'f32' ? '' : ` (on this model: retro quality --model M --quant ${o.quant})`}`);
      if (o.memory) {
        print(`engine memory (what -v 1 prints): ${o.memory.allocated} bytes allocated, peak ${o.memory.peak}`);
        if (o.mode === 'stream') print(`read per token (what -v 1 prints): ${o.memory.readPerToken} bytes in ${o.memory.readsPerToken} reads: ${o.memory.reads.map((x) => `${x.kind} ${x.bytes} bytes in ${x.reads}`).join(', ')}`);
      }
    } else print('recommended: nothing fits this machine; use a smaller model');
    if (r.int8Cache) {
      const o = r.int8Cache;
      print(`with --kv-cache int8 (keys and values as int8, a float32 scale per head): --quant ${o.quant}, context ${o.seqLen}, ${mb(o.allocated)} MB, ${o.estimate ? `${o.estimate.tokensPerSecond.toPrecision(3)} tok/s estimated` : ''}; its cost on this model: retro quality --model M --kv-cache int8`);
    }
    if (r.estimate) {
      print(`estimated speed: ${r.estimate.tokensPerSecond.toPrecision(3)} tok/s (ESTIMATE, ${r.estimate.bound}-bound${r.estimate.calibrated ? ', calibrated on the machine' : r.estimate.source === 'guess' ? ', not calibrated' : ''}), assuming:`);
      for (const x of r.estimate.assumptions) print(`  - ${x}`);
    }
  },
};

interface QualityArgs {
  model: string;
  tokenizer?: string;
  quant: IntQuantKind[];
  'group-size': number;
  text?: string;
  prompt: string;
  steps: number;
  'kv-cache': KvCacheKind;
  json?: boolean;
}

const qualityCommand: CommandModule<object, QualityArgs> = {
  command: 'quality',
  describe: 'what q8/q4 cost against the f32 reference: top-1 agreement, KL divergence, perplexity',
  builder: (y) =>
    kvCacheOption(intQuantOption(modelOptions(y).demandOption('model')), 'score the models with this KV cache (int8 also scores the f32 weights with it)')
      .option('text', { type: 'string', describe: 'a held text to score (default: the f32 model\'s greedy story)' })
      .option('prompt', { alias: 'i', type: 'string', default: 'Once upon a time' })
      .option('steps', { alias: 'n', type: 'number', default: 256 })
      .option('json', { type: 'boolean', describe: 'machine-readable output (errors too)' }) as never,
  handler: (a) => {
    const r = runQuality({ model: a.model, tokenizer: a.tokenizer, quants: a.quant, groupSize: a['group-size'], text: a.text, prompt: promptBytes(a.prompt, undefined), steps: a.steps, kvCache: a['kv-cache'] });
    if (a.json) {
      printJson(r);
      return;
    }
    print(`text: ${r.text}, ${r.tokens} tokens`);
    print(
      table(
        ['quant', 'group', 'KV cache', 'positions', 'top-1 agreement', 'mean KL (nats)', 'max KL', 'perplexity f32', 'perplexity quant'],
        r.scores.map((x) => [x.quant, String(x.groupSize), x.kvCache, String(x.score.positions), `${(100 * x.score.top1Agreement).toFixed(1)}%`, x.score.meanKl.toExponential(2), x.score.maxKl.toExponential(2), x.score.perplexityRef.toFixed(3), x.score.perplexityQuant.toFixed(3)]),
      ),
    );
  },
};

interface DoctorArgs {
  install?: boolean;
  targets?: string;
  json?: boolean;
}

const doctorCommand: CommandModule<object, DoctorArgs> = {
  command: 'doctor',
  describe: 'list the toolchains and emulators each target needs, and what is missing',
  builder: (y) => jsonOption(y).option('install', { type: 'boolean', describe: 'apt-get install what is missing (root)' }).option('targets', { type: 'string', describe: 'a folder of your own profiles' }) as never,
  handler: async (a) => {
    let rows = runDoctor(a.targets);
    if (a.install) {
      await installPackages(missingPackages(rows), process.getuid?.() === 0, a.json ? () => {} : progress);
      rows = runDoctor(a.targets);
    }
    if (a.json) {
      printJson({ rows, missing: missingPackages(rows) });
      return;
    }
    print(table(['target', 'build', 'tool', 'status', 'package'], rows.flatMap((r) => r.tools.map((t) => [r.target, r.build, t.command, t.found ? `ok ${t.found}` : 'MISSING', t.package]))));
    const missing = missingPackages(rows);
    print(missing.length === 0 ? 'everything is installed' : `missing: apt-get install ${missing.join(' ')} (or retro doctor --install)`);
  },
};

interface VerifyArgs extends RemoteArgs {
  target: string;
  targets?: string;
  bundle?: string;
  model?: string;
  tokenizer?: string;
  quant: QuantKind;
  'group-size': number;
  mode: string;
  steps: number;
  prompt: string;
  temperature: number;
  topp: number;
  seed: string;
  trace?: string;
  json?: boolean;
  report?: string;
  stream?: boolean;
  'ram-budget'?: number;
  'kv-cache': KvCacheKind;
}

const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify [machine]',
  describe: 'run the built engine (emulated, on the machine with --via ssh, or a trace from it) and compare it with the reference',
  builder: (y) =>
    kvCacheOption(samplingOptions(quantOptions(modelOptions(remoteOptions(y), 'build this model first'), { default: 'f32', describe: 'weight storage, when verify builds the bundle' }), { temperature: 0, steps: 64, prompt: 'Once upon a time', seed: '42' }), "the engine's KV cache, when verify builds the bundle")
      .option('bundle', { type: 'string', describe: 'bundle folder (default dist/<target>; built if missing or --model is given)' })
      .option('mode', { choices: ['free', 'forced', 'both'], default: 'both', describe: 'free-running generation, teacher-forced, or both' })
      .option('trace', { type: 'string', describe: 'compare this trace (from the real machine) instead of running anything' })
      .option('report', { type: 'string', describe: 'HTML report path (default next to the bundle)' })
      .option('stream', { type: 'boolean', describe: 'build an engine that streams its weights from disk' })
      .option('ram-budget', { type: 'number', describe: 'build with this RAM budget in MB (a small one forces streaming)' }) as never,
  handler: async (a) => {
    if ((a.via !== undefined || a.machine !== undefined) && a.trace === undefined) {
      // On the real machine over SSH: run the deployed engine with a trace, fetch it, compare.
      await runOnMachine({ ...a, trace: true }, true);
      return;
    }
    // A trace from a named machine is checked against that machine's target and bundle.
    const m = a.machine !== undefined ? machineTarget({ machine: a.machine, config: a.config, target: a.target }) : undefined;
    const target = a.target ?? m?.target;
    if (target === undefined) throw new UsageError('no target given', 'pass --target <id>, or --via ssh with a machine');
    const r = await runVerify(
      {
        target,
        targetsDir: a.targets,
        bundle: a.bundle ?? m?.bundle,
        model: a.model,
        tokenizer: a.tokenizer,
        quant: a.quant,
        groupSize: a['group-size'],
        modes: parseModes(a.mode),
        steps: a.steps,
        prompt: promptBytes(a.prompt, undefined),
        temperature: a.temperature,
        topp: a.topp,
        seed: parseSeed(a.seed) ?? 42n,
        trace: a.trace,
        report: a.report,
        stream: a.stream,
        ramBudgetMb: a['ram-budget'],
        kvCache: a['kv-cache'],
        cacheDir: cacheDir(),
      },
      a.json ? () => {} : progress,
    );
    printVerify(r, a.json === true);
  },
};

export const commands: CommandModule<object, never>[] = [generateCommand, inspectCommand, targetsCommand, buildCommand, planCommand, verifyCommand, qualityCommand, doctorCommand, ...remoteCommands] as CommandModule<object, never>[];
