/** The retro command line: parse, print, exit codes. The only module that touches process and the console. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { RetroError } from '../errors.js';
import { commands } from './commands.js';

function fail(e: unknown): never {
  if (e instanceof RetroError) {
    process.stderr.write(`retro: ${e.message} (fix: ${e.hint})\n`);
    process.exit(1);
  }
  const err = e as Error;
  process.stderr.write(`retro: internal error: ${err?.message ?? String(e)} (this is a bug in retro; RETRO_DEBUG=1 shows the stack)\n`);
  if (process.env.RETRO_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  // `retro generate | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    fail(e);
  });
  let cli = yargs(hideBin(process.argv))
    .scriptName('retro')
    .strict()
    // A flag given twice: the last one wins (so a test or a wrapper script can override).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .demandCommand(1, 'name a command: retro --help lists them')
    .recommendCommands()
    .help()
    .version(false)
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`retro: ${msg} (fix: see retro --help)\n`);
      process.exit(1);
    });
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main().catch(fail);
