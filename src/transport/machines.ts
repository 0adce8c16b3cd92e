/**
 * Named machines from a project config file (retro.config.json), so `retro deploy old-pc` works.
 * The file holds where and how to connect, never a secret: a password is named by the
 * environment variable that holds it.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { printable, readJsonFile } from '../files.js';

const machine = z
  .object({
    target: z.string().describe('target id or profile path'),
    host: z.string(),
    via: z.string().optional().describe('ftp or ssh (default: the profile\'s transfer protocol)'),
    port: z.number().int().positive().max(65535).optional(),
    user: z.string().optional(),
    remoteDir: z.string().optional(),
    identity: z.string().optional().describe('SSH private key file'),
    knownHosts: z.string().optional(),
    hostKeySha256: z.string().optional(),
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional().describe('environment variable that holds the password'),
    bundle: z.string().optional(),
    ssh: z
      .object({
        legacy: z.boolean().optional().describe('also offer the algorithms of Mac OS X 10.4/10.5 OpenSSH (docs/ssh-legacy.md)'),
        kex: z.array(z.string()).optional(),
        cipher: z.array(z.string()).optional(),
        hmac: z.array(z.string()).optional(),
        serverHostKey: z.array(z.string()).optional(),
      })
      .strict()
      .optional()
      .describe('SSH algorithm lists: "+name" adds to the defaults, plain names replace them'),
  })
  .strict();

const configSchema = z.object({ machines: z.record(machine).default({}) }).strict();

export type MachineConfig = z.infer<typeof machine>;
export const CONFIG_FILE = 'retro.config.json';
/** A project config names a few machines: 1 MB is far more than any needs. */
const MAX_CONFIG_BYTES = 1 << 20;

/** The machines of a config file; none when the default file does not exist. */
export function readMachines(path: string, explicit: boolean): Record<string, MachineConfig> {
  if (!existsSync(path)) {
    if (explicit) throw new UsageError(`${path}: config file not found`, 'check the path given to --config');
    return {};
  }
  const data = readJsonFile(path, MAX_CONFIG_BYTES, 'config file', (message, hint) => new UsageError(message, hint));
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.');
    const hint = issue.code === 'unrecognized_keys' && issue.keys.some((k) => /pass/i.test(k)) ? 'never store a password in the file: name its environment variable with "passwordEnv"' : 'see the retro.config.json example in README';
    throw new UsageError(`${path}: field ${printable(field, 80) || '(top level)'}: ${printable(issue.message)}`, hint);
  }
  return parsed.data.machines;
}

export function findMachine(name: string, machines: Record<string, MachineConfig>, path: string): MachineConfig {
  // An own property: a name such as "constructor" is not a machine.
  const m = Object.hasOwn(machines, name) ? machines[name] : undefined;
  if (!m) {
    const known = Object.keys(machines);
    throw new UsageError(`no machine named "${name}" in ${path}`, known.length ? `use one of: ${known.join(', ')}` : `add it under "machines" in ${path}, or give --target and --host`);
  }
  return m;
}
