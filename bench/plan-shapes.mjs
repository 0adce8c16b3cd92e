// retro plan for the shapes of models people download, on each built-in machine: no weights are
// needed (plan reads shapes), so the vocabularies are synthetic ones of the real sizes.
// Prints the markdown table README shows; the last column is what an int8 KV cache allows where
// the f32 one shortens the context.  Usage: npm run bench:plan
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = (p) => join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', p);
const { planModel } = await import(dist('plan/plan.js'));
const { loadProfile } = await import(dist('profile/load.js'));
const { shapeConfig, syntheticVocab, TIED_SHAPES } = await import(dist('model/synthetic.js'));

const SHAPES = ['15M', '42M', '110M', 'SmolLM2-135M', 'SmolLM2-360M', 'TinyLlama-1.1B', 'Llama-3.2-1B'];
const TARGETS = ['win98-pentium2', 'powerbook-g4', 'xbox360-xenon'];
const mb = (n) => `${(n / 1048576).toFixed(0)} MB`;
console.log('| model shape | target | f32 in RAM | verdict (f32) | recommended | estimate | with --kv-cache int8 |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const shape of SHAPES) {
  const config = shapeConfig(shape);
  const facts = { config, vocab: syntheticVocab(config.vocabSize), sharedClassifier: TIED_SHAPES.has(shape), description: shape, modelPath: shape };
  for (const target of TARGETS) {
    const r = planModel(loadProfile(target), facts, { groupSize: 32 });
    const f32 = r.options.find((o) => o.quant === 'f32' && o.mode === 'ram');
    const o = r.recommendation;
    const setup = o ? `${o.quant}, ${o.mode === 'stream' ? 'streamed' : 'in RAM'}${o.seqLen < config.seqLen ? `, context ${o.seqLen}` : ''}` : 'nothing fits';
    const s = r.estimate?.seconds;
    // the disk's parts: bytes at its rate, separate reads at its time per read (profile "disk")
    const disk = s && s.disk > 0 ? ` (${(o.memory.readPerToken / 1048576).toFixed(1)} MB: ${s.transfer.toPrecision(3)} s + ${o.memory.readsPerToken} reads: ${s.seek.toPrecision(3)} s; compute ${s.compute.toPrecision(3)} s)` : '';
    const est = r.estimate ? `${r.estimate.tokensPerSecond.toPrecision(3)} tok/s, ${r.estimate.bound}-bound${disk}` : '-';
    // where the f32 KV cache shortens the context, what an int8 one fits
    const i = r.int8Cache;
    const int8 = i ? `${i.quant}, ${i.mode === 'stream' ? 'streamed' : 'in RAM'}, context ${i.seqLen}, ${i.estimate.tokensPerSecond.toPrecision(3)} tok/s` : '-';
    console.log(`| ${shape} (dim ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}, context ${config.seqLen}) | ${target} | ${f32.fits ? `${mb(f32.allocated)}: fits` : `no (${f32.why})`} | ${r.verdict} | ${setup} | ${est} | ${int8} |`);
  }
}
