import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from '../lib/project-root.js';
import { ECHO_BOT, type BenchEnv } from './host.js';
import {
  checkTarget,
  heading,
  printFigures,
  printSummaryTable,
  rounded,
  summarize,
  type Summary,
  type TargetResult,
} from './stats.js';
import { Deadline, sleep, type BotBody } from './util.js';

export interface DeployOptions {
  runs: number;
  /** The gate's min_healthy_seconds for every deployment. */
  minHealthySeconds: number;
  cliRuns: number;
}

export interface DeployResult {
  runs: number;
  minHealthySeconds: number;
  /** POST /api/v1/deployments → its outcome seen by the client, less min_healthy_seconds. */
  healthyOverheadMs: Summary;
  /** The same from the deployment's own steps: pending (API) → succeeded (workflow), less min_healthy_seconds. */
  healthyStepsOverheadMs: Summary;
  /** The bad build's first crash recorded (its incident) → the bot running the previous revision's spec again. */
  crashToPreviousRunningMs: Summary;
  /** POST → rolled_back, all told (two gates). */
  crashToRolledBackMs: Summary;
  cliVersionMs: Summary;
  cliVersionLauncherMs: Summary;
  targets: TargetResult[];
}

/** Exits at once, with a line that says why: a build that cannot start. */
const CRASHING_BUILD = 'crashing_build.sh';
/** Restart at once (the heal is not what is measured), and allow every restart the runs make. */
const ZERO_BACKOFF = {
  max_restarts: 1000,
  window_seconds: 3600,
  backoff_initial_seconds: 0,
  backoff_max_seconds: 0,
  backoff_jitter: 0,
};

interface DeploymentBody {
  id: string;
  phase: string;
  outcome: string | null;
  revision: number;
  rollback_revision: number | null;
  steps: Array<{ phase: string; at: string }>;
  evidence: { instance_id?: string } | null;
}

/**
 * npm run bench -- deploy: a healthy deployment's time beyond its
 * min_healthy_seconds; a crashing build's time from its first crash to the
 * previous revision running again (zero backoff); the CLI's start-up.
 */
export async function benchDeploy(env: BenchEnv, o: DeployOptions): Promise<DeployResult> {
  heading(`deploy: ${o.runs} healthy deployments, ${o.runs} crashing ones rolled back, the CLI's start-up`);
  await fs.writeFile(path.join(env.botsDir, CRASHING_BUILD), 'echo "fatal: the new build cannot start"\nexit 3\n');
  const gate = { min_healthy_seconds: o.minHealthySeconds, progress_deadline_seconds: 60 };
  const id = `${env.runId}-deploy`;
  await env.api.registerBot(id, { blueprint: ECHO_BOT, env: { INTERVAL_MS: '600000' }, heal_policy: ZERO_BACKOFF });
  await env.api.expect([202], 'POST', `/api/v1/bots/${id}/start`);
  await env.api.waitStatus(id, 'running', 5, new Deadline(60_000, 'the deploy bot running'));

  /** The deployment once it has ended. */
  const outcomeOf = async (deploymentId: string): Promise<DeploymentBody> => {
    for (const deadline = new Deadline(120_000, `deployment ${deploymentId}`); ; deadline.check()) {
      const r = await env.api.expect<DeploymentBody>(
        [200],
        'GET',
        `/api/v1/deployments/${deploymentId}?wait=60`,
        undefined,
        90_000,
      );
      if (r.body.outcome) return r.body;
    }
  };
  const deployAndWait = async (body: Record<string, unknown>): Promise<{ d: DeploymentBody; ms: number }> => {
    const t0 = performance.now();
    const created = await env.api.expect<DeploymentBody>([202], 'POST', '/api/v1/deployments', {
      bot_id: id,
      health_gate: gate,
      ...body,
    });
    const d = await outcomeOf(created.body.id);
    return { d, ms: performance.now() - t0 };
  };

  const healthy: number[] = [];
  const healthySteps: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const { d, ms } = await deployAndWait({ args: ['--build', String(i)] });
    if (d.phase !== 'succeeded') throw new Error(`healthy deployment ${d.id} ended ${d.phase}: ${JSON.stringify(d)}`);
    healthy.push(ms - o.minHealthySeconds * 1000);
    const at = (phase: string) => Date.parse(d.steps.find((s) => s.phase === phase)!.at);
    healthySteps.push(at('succeeded') - at('pending') - o.minHealthySeconds * 1000);
  }

  const crashToRunning: number[] = [];
  const crashToRolledBack: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const t0 = performance.now();
    const created = await env.api.expect<DeploymentBody>([202], 'POST', '/api/v1/deployments', {
      bot_id: id,
      blueprint: CRASHING_BUILD,
      health_gate: gate,
    });
    // Running again on the previous spec: the echo bot's process, on the revision the rollback made.
    let back: { at: number; bot: BotBody & { revision: number; blueprint: string } } | undefined;
    for (const deadline = new Deadline(60_000, 'the previous revision running again'); !back; deadline.check()) {
      const [bot, dep] = await Promise.all([
        env.api.expect<BotBody & { revision: number; blueprint: string }>([200], 'GET', `/api/v1/bots/${id}`),
        env.api.expect<DeploymentBody>([200], 'GET', `/api/v1/deployments/${created.body.id}`),
      ]);
      if (
        dep.body.rollback_revision !== null &&
        bot.body.revision === dep.body.rollback_revision &&
        bot.body.blueprint === ECHO_BOT &&
        bot.body.status === 'running'
      )
        back = { at: Date.now(), bot: bot.body };
      else await sleep(5);
    }
    const d = await outcomeOf(created.body.id);
    if (d.phase !== 'rolled_back')
      throw new Error(`crashing deployment ${d.id} ended ${d.phase}: ${JSON.stringify(d)}`);
    // The crash as the platform first recorded it: the heal's incident about the instance the gate watched
    // (else the deployment_failed incident, which comes a step later).
    const incidents = await env.api.expect<{
      incidents: Array<{ id: string; created_at: string; kind: string; instance_id: string | null }>;
    }>([200], 'GET', `/api/v1/incidents?bot_id=${id}&limit=1000`);
    const watched = d.evidence?.instance_id;
    const crash =
      incidents.body.incidents.find((x) => x.kind === 'process_exited' && x.instance_id === watched) ??
      incidents.body.incidents.find((x) => x.id === d.id);
    if (!crash) throw new Error(`deployment ${d.id}: no incident recorded its crash`);
    crashToRunning.push(back.at - Date.parse(crash.created_at));
    crashToRolledBack.push(performance.now() - t0);
  }
  await env.api.expect([202], 'POST', `/api/v1/bots/${id}/stop`);

  const cli = path.join(projectRoot(), 'dist', 'bin', 'codex32.js');
  const launcher = path.join(projectRoot(), 'scripts', 'codex32.mjs');
  const startUp = async (file: string) => {
    const samples: number[] = [];
    for (let i = 0; i < o.cliRuns; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [file, '--version'], { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`codex32 --version exited ${code}`))));
      });
      samples.push(performance.now() - t0);
    }
    return samples;
  };
  const cliVersion = await startUp(cli);
  const cliLauncher = await startUp(launcher);

  const result: DeployResult = {
    runs: o.runs,
    minHealthySeconds: o.minHealthySeconds,
    healthyOverheadMs: rounded(summarize(healthy)),
    healthyStepsOverheadMs: rounded(summarize(healthySteps)),
    crashToPreviousRunningMs: rounded(summarize(crashToRunning)),
    crashToRolledBackMs: rounded(summarize(crashToRolledBack)),
    cliVersionMs: rounded(summarize(cliVersion)),
    cliVersionLauncherMs: rounded(summarize(cliLauncher)),
    targets: [],
  };
  printSummaryTable([
    [`healthy: POST → succeeded, less ${o.minHealthySeconds} s (ms)`, result.healthyOverheadMs],
    ['healthy: pending → succeeded steps, less min_healthy (ms)', result.healthyStepsOverheadMs],
    ['crashing: first crash → previous spec running (ms)', result.crashToPreviousRunningMs],
    ['crashing: POST → rolled_back (ms)', result.crashToRolledBackMs],
    ['codex32 --version (node dist/bin/codex32.js, ms)', result.cliVersionMs],
    ['codex32 --version (the npx launcher, ms)', result.cliVersionLauncherMs],
  ]);
  printFigures([['gate', `min_healthy_seconds ${o.minHealthySeconds}, zero backoff heal policy`]]);
  result.targets.push(
    checkTarget('healthy deployment overhead p50', result.healthyOverheadMs.p50, 300, 'ms'),
    checkTarget('first crash → previous revision running p50', result.crashToPreviousRunningMs.p50, 2000, 'ms'),
    checkTarget('codex32 --version p50', result.cliVersionMs.p50, 150, 'ms'),
  );
  return result;
}
