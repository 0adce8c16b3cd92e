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

/** yargs' messages, some of several lines, as one line and the fix that fits it. */
function usageLine(msg: string, names: string[]): [string, string] {
  const choices = /Argument: (\S+), Given: (.*), Choices: (.*)/.exec(msg);
  if (choices) {
    const options = choices[3].split(', ').map((c) => c.replace(/^"|"$/g, ''));
    return [`--${choices[1]} ${choices[2]} is not one of ${options.join(', ')}`, `pass --${choices[1]} ${options.slice(0, -1).join(', ')} or ${options.at(-1)}`];
  }
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  const first = process.argv.slice(2).find((a) => !a.startsWith('-'));
  if (unknown && first !== undefined && !names.includes(first) && unknown[1].split(', ')[0] === first) {
    return [`unknown command "${first}"`, `run one of: ${names.join(', ')} (retro --help describes them)`];
  }
  if (unknown) {
    // As typed: --name, -x, or a stray word
    const words = unknown[1].split(', ').map((w) => [`--${w}`, `-${w}`].find((f) => process.argv.some((a) => a === f || a.startsWith(`${f}=`))) ?? `"${w}"`);
    return [`unknown argument${words.length > 1 ? 's' : ''} ${words.join(', ')}`, `retro ${first ?? ''} --help lists the options`.replace('  ', ' ')];
  }
  return [msg.replace(/\s*\n\s*/g, '; '), 'see retro --help'];
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
      const [message, fix] = usageLine(msg, names);
      report('UsageError', message, fix, 1);
    });
  const names = commands.map((c) => String(c.command).split(' ')[0]);
  for (const c of commands) cli = cli.command(c);
  await cli.parseAsync();
}

main().catch(fail);
