import { randomUUID } from 'node:crypto';
import { answer, authHeaders, refusal, type Api } from '../api-client.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { followDeployment, outcomeExit, stepLine } from '../follow.js';
import { uploadOf } from '../pack.js';
import type { Progress } from '../progress.js';
import type { Settings } from '../settings.js';

export interface DeployOptions {
  artifact?: string;
  entrypoint?: string;
  image?: string;
  ref?: string;
  env: string[];
  minHealthy?: number;
  deadline?: number;
  maxErrorRate?: number;
  rollback: boolean;
  supersede?: boolean;
  wait?: boolean;
  timeout: number;
  json?: boolean;
  idempotencyKey?: string;
}

export interface Io {
  api: Api;
  settings: Settings;
  progress: Progress;
  stdout: (text: string) => void;
}

/**
 * A key per pipeline run, so that a retried step makes no second
 * deployment: GitHub Actions' and GitLab CI's run ids when there, else one
 * per invocation.
 */
function idempotencyKey(env: NodeJS.ProcessEnv, given?: string): string {
  if (given) return given;
  if (env.GITHUB_RUN_ID) return `github-${env.GITHUB_RUN_ID}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${env.GITHUB_JOB ?? ''}`;
  if (env.CI_JOB_ID) return `gitlab-${env.CI_JOB_ID}`;
  return `cli-${randomUUID()}`;
}

function envPairs(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined;
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliExit(EXIT.refused, `--env ${pair}: give NAME=value (e.g. --env LOG_LEVEL=debug).`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** Uploads the build when one is given, deploys it, and with --wait follows it to its end. */
export async function deploy(botId: string, o: DeployOptions, io: Io): Promise<CliExit> {
  const { api, settings, progress } = io;
  if (o.artifact && o.image) throw new CliExit(EXIT.refused, 'Give --artifact or --image, not both.');
  let artifact: { digest: string; entrypoint: string } | undefined;
  if (o.artifact) {
    const upload = await uploadOf(o.artifact).catch((err: unknown) => {
      throw new CliExit(EXIT.refused, `--artifact ${o.artifact}: ${(err as Error).message}`);
    });
    const entrypoint = o.entrypoint ?? upload.filename;
    if (!entrypoint)
      throw new CliExit(EXIT.refused, '--entrypoint names the file of the build that runs (e.g. --entrypoint bot.py).');
    progress.step(`uploading ${o.artifact} (${Math.round(upload.body.length / 1024)} KiB)`);
    const res = await fetch(`${settings.url}/api/v1/bots/${encodeURIComponent(botId)}/artifacts`, {
      method: 'PUT',
      body: upload.body,
      headers: {
        ...authHeaders(settings),
        'Content-Type': upload.contentType,
        ...(upload.filename ? { 'X-Filename': upload.filename } : {}),
      },
    });
    const body = (await res.json().catch(() => null)) as { artifact?: string } | null;
    if (!res.ok || !body?.artifact) throw refusal(res.status, body, `uploading ${o.artifact}`);
    artifact = { digest: body.artifact, entrypoint };
    progress.step(`uploaded ${body.artifact}`);
  } else if (o.entrypoint) {
    throw new CliExit(EXIT.refused, '--entrypoint goes with --artifact: the file of the uploaded build that runs.');
  }

  const gate = {
    ...(o.minHealthy !== undefined ? { min_healthy_seconds: o.minHealthy } : {}),
    ...(o.deadline !== undefined ? { progress_deadline_seconds: o.deadline } : {}),
    ...(o.maxErrorRate !== undefined ? { max_error_rate: o.maxErrorRate } : {}),
  };
  const env = envPairs(o.env);
  const created = await api.POST('/api/v1/deployments', {
    body: {
      bot_id: botId,
      ...(o.ref ? { ref: o.ref } : {}),
      ...(artifact ? { artifact: artifact.digest, entrypoint: artifact.entrypoint } : {}),
      ...(o.image ? { image: o.image } : {}),
      ...(env ? { env } : {}),
      ...(Object.keys(gate).length > 0 ? { health_gate: gate as never } : {}),
      auto_rollback: o.rollback,
      start_if_stopped: true,
      supersede: o.supersede ?? false,
    },
    params: { header: { 'idempotency-key': idempotencyKey(settings.env, o.idempotencyKey) } },
  });
  const d = answer(created, `deploying to ${botId}`);
  for (const step of d.steps) progress.step(stepLine(step));
  if (!o.wait) {
    progress.done();
    if (o.json) io.stdout(JSON.stringify(d, null, 2));
    return new CliExit(
      EXIT.ok,
      `Deployment ${d.id} of revision ${d.revision} to ${botId} started. Follow it: codex32 deployments ${botId}, or deploy with --wait.`,
    );
  }
  const ended = await followDeployment(api, settings, d.id, o.timeout, progress);
  progress.done();
  if (!ended) {
    return new CliExit(
      EXIT.timedOut,
      `Deployment ${d.id} had not ended after ${o.timeout} s (--timeout); it goes on. Follow it with GET /api/v1/deployments/${d.id}.`,
    );
  }
  if (o.json) io.stdout(JSON.stringify(ended, null, 2));
  return outcomeExit(ended);
}
