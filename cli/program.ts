import { Command, InvalidArgumentError, Option } from 'commander';
import { type CliExit, EXIT } from './exit-codes.js';
import type { DeployOptions, Io } from './commands/deploy.js';

const seconds = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} is a whole number of seconds.`);
  return n;
};
const fraction = (value: string) => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('a fraction from 0 to 1, e.g. 0.05');
  return n;
};
const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `codex32`: the commands a pipeline and an operator run. Each loads what it
 * needs when it runs, so that `codex32 --version` starts in a few tens of
 * milliseconds. `run` gets the io (API client, settings, output) on demand.
 */
export function createProgram(version: string, run: (action: (io: Io) => Promise<CliExit>) => Promise<void>): Command {
  const program = new Command('codex32')
    .version(version)
    .description(
      'Deploy and watch Codex-32 bots. Reads CODEX32_URL and CODEX32_API_KEY (or the tokens of codex32 login).',
    )
    .showHelpAfterError()
    .exitOverride();
  program.addHelpText(
    'after',
    `\nExit codes of deploy and rollback with --wait: ${EXIT.ok} succeeded, ${EXIT.failed} rolled back or failed, ${EXIT.refused} refused (validation, another deployment running), ${EXIT.timedOut} timed out waiting, ${EXIT.auth} authentication or permission.`,
  );

  program
    .command('deploy <bot>')
    .description('Deploy a new revision of a bot through its health gate')
    .option('--artifact <path>', 'a build to upload: a directory (packed), a .tar.gz, or a single file')
    .option('--entrypoint <file>', 'the file of the artifact that runs (default for a single file: itself)')
    .option('--image <image>', 'a container image (Kubernetes runtime)')
    .option('--ref <ref>', 'what is deployed: a commit, tag or build number')
    .option('--env <K=V>', 'an environment variable (repeat; needs bots:update)', collect, [])
    .option('--min-healthy <s>', 'seconds the new revision must stay up (default 10)', seconds('--min-healthy'))
    .option('--deadline <s>', 'seconds it has to get there (default 120)', seconds('--deadline'))
    .option('--max-error-rate <r>', "highest error rate of its heartbeats (default: the bot's own threshold)", fraction)
    .option('--no-rollback', 'leave a failed revision as it is instead of going back to the last healthy one')
    .option('--supersede', 'take over from a deployment of the bot that is still running')
    .option('--idempotency-key <key>', 'the same key makes no second deployment (default: the CI run id)')
    .option('--wait', 'wait for the outcome and exit with it')
    .option('--timeout <s>', 'with --wait, give up waiting after this long', seconds('--timeout'), 600)
    .option('--json', 'print the deployment as JSON on stdout')
    .action(async (bot: string, o: DeployOptions) => {
      const { deploy } = await import('./commands/deploy.js');
      await run((io) => deploy(bot, o, io));
    });

  program
    .command('rollback <bot>')
    .description('Go back to an earlier revision (default: the latest healthy one), through the health gate')
    .option('--revision <n>', 'the revision to go back to', seconds('--revision'))
    .option('--wait', 'wait for the outcome and exit with it')
    .option('--timeout <s>', 'with --wait, give up waiting after this long', seconds('--timeout'), 600)
    .option('--json', 'print the deployment as JSON on stdout')
    .action(async (bot: string, o: { revision?: number; wait?: boolean; timeout: number; json?: boolean }) => {
      const { rollback } = await import('./commands/fleet.js');
      await run((io) => rollback(bot, o, io));
    });

  program
    .command('bots')
    .description('List bots')
    .option('--json', 'as JSON')
    .action(async (o: { json?: boolean }) => {
      const { bots } = await import('./commands/fleet.js');
      await run((io) => bots(o, io));
    });

  program
    .command('status <bot>')
    .description("A bot's status, revision and figures")
    .option('--json', 'as JSON')
    .action(async (bot: string, o: { json?: boolean }) => {
      const { status } = await import('./commands/fleet.js');
      await run((io) => status(bot, o, io));
    });

  program
    .command('logs <bot>')
    .description("A bot's output")
    .option('-f, --follow', 'keep printing as it writes')
    .addOption(new Option('--tail <n>', 'lines from the end').argParser(seconds('--tail')).default(100))
    .action(async (bot: string, o: { follow?: boolean; tail: number }) => {
      const { logs } = await import('./commands/fleet.js');
      await run((io) => logs(bot, o, io));
    });

  program
    .command('revisions <bot>')
    .description("A bot's revisions, newest first (* the current one)")
    .option('--json', 'as JSON')
    .action(async (bot: string, o: { json?: boolean }) => {
      const { revisions } = await import('./commands/fleet.js');
      await run((io) => revisions(bot, o, io));
    });

  program
    .command('deployments [bot]')
    .description('Deployments, newest first')
    .option('--limit <n>', 'how many', seconds('--limit'), 20)
    .option('--json', 'as JSON')
    .action(async (bot: string | undefined, o: { json?: boolean; limit: number }) => {
      const { deployments } = await import('./commands/fleet.js');
      await run((io) => deployments(bot, o, io));
    });

  program
    .command('login')
    .description('Sign in as a user; later commands use the tokens (CODEX32_API_KEY wins when set)')
    .requiredOption('-u, --username <name>', 'the user name')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (o: { username: string; passwordStdin?: boolean }) => {
      const { login } = await import('./commands/login.js');
      await run((io) => login(o, io));
    });

  return program;
}
