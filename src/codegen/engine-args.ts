/** The emitted engine's command line (llama2.c run's flags plus retro's), built in one place. */
export interface EngineRun {
  model: string;
  steps: number;
  temperature?: number;
  topp?: number;
  seed?: bigint;
  prompt?: Uint8Array;
  /** Write a trace for retro verify. */
  trace?: string;
  /** Teacher forcing: feed the tokens in this file instead of sampling. */
  forced?: string;
  /** -K: 'scalar' for the plain C kernels (else the build's best). */
  kernel?: string;
  threads?: number;
  /** Anything else, passed through (e.g. -B, -S, -v). */
  extra?: string[];
}

export function engineArgs(r: EngineRun): string[] {
  const args = [r.model];
  const flag = (name: string, value: string | number | bigint | undefined) => value !== undefined && args.push(name, String(value));
  flag('-t', r.temperature);
  flag('-p', r.topp);
  flag('-s', r.seed);
  flag('-n', r.steps);
  flag('-i', r.prompt && Buffer.from(r.prompt).toString('utf8'));
  flag('-F', r.forced);
  flag('-T', r.trace);
  flag('-K', r.kernel);
  flag('-j', r.threads);
  return [...args, ...(r.extra ?? [])];
}
