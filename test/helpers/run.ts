/** Runs the reference engine in process and collects its stdout bytes. */
import { runGenerate, type GenerateRequest } from '../../src/core/generate.js';

export function generateText(req: Partial<Omit<GenerateRequest, 'prompt'>> & { model: string; prompt?: Uint8Array | string }): Buffer {
  const chunks: Buffer[] = [];
  runGenerate(
    {
      temperature: 1.0,
      topp: 0.9,
      steps: 256,
      ...req,
      prompt: typeof req.prompt === 'string' ? Buffer.from(req.prompt, 'utf8') : (req.prompt ?? new Uint8Array(0)),
    },
    { stdout: (b) => chunks.push(Buffer.from(b)), stderr: () => {} },
  );
  return Buffer.concat(chunks);
}
