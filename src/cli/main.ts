/** The retro command line: parse, print, exit codes. The only module that touches process and the console. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { removeUnfinished } from '../bundle/outdir.js';
import { RetroError } from '../errors.js';
import { stopCompilers } from '../toolchain/tools.js';
import { RETRO_VERSION } from '../version.js';
import { commands } from './commands.js';
import { interrupts } from './io.js';

/** With --json, errors are JSON too (on stdout, where the result would have been), besides the one line on stderr. */
const json = process.argv.includes('--json');

function report(kind: string, message: string, fix: string, code: 1 | 2): never {
  process.stderr.write(`retro: ${message} (fix: ${fix})\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { kind, message, fix } }, null, 2)}\n`);
  process.exit(code);
}

function fail(e: unknown): never {
  if (e instanceof RetroError) report(e.constructor.name, e.message, e.hint, 1);
  const err = e as Error;
  if (process.env.RETRO_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  report('InternalError', `internal error: ${err?.message ?? String(e)}`, 'this is a bug in retro; RETRO_DEBUG=1 shows the stack', 2);
}

async function main(): Promise<void> {
  // An interrupted build stops its compilers and leaves no staging or scratch folder behind.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      stopCompilers();
      removeUnfinished();
      // A command with its own handler (retro serve) stops itself; else stop here, as Node would.
      if (!interrupts.handledByCommand) process.exit(code);
    });
  }
  // `retro generate | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    fail(e);
  });
  let cli = yargs(hideBin(process.argv))
    .scriptName('retro')
    .strict()
    // A flag given twice: the last one wins (so a test or a wrapper script can override).
    .parserConfiguration({ 'duplicate-arguments-array': false, 'populate--': true })
    .demandCommand(1, 'name a command: retro --help lists them')
    .recommendCommands()
    .help()
    .version(RETRO_VERSION)
    .fail((msg, err) => {
      if (err) fail(err);
      report('UsageError', msg, 'see retro --help', 1);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main().catch(fail);
