import { authHeaders, refusal, type Api, type Deployment } from './api-client.js';
import { CliExit, EXIT } from './exit-codes.js';
import type { Progress } from './progress.js';
import { serverEvents } from './server-events.js';
import type { Settings } from './settings.js';

type Step = Deployment['steps'][number];

/** One line for a step, the same on a terminal and in CI. */
export function stepLine(step: Step): string {
  return `${step.at.slice(11, 19)}  ${step.phase.padEnd(12)} ${step.detail}`;
}

/**
 * Waits for the deployment to end, printing each step as it happens (the
 * deployment's event stream; its ?wait= reads when the stream breaks), at
 * most `timeoutSeconds`: the deployment as it ended, or null on timeout.
 */
export async function followDeployment(
  api: Api,
  settings: Settings,
  id: string,
  timeoutSeconds: number,
  progress: Progress,
): Promise<Deployment | null> {
  const until = Date.now() + timeoutSeconds * 1000;
  let printed = 0;
  const print = (step: Step, index: number) => {
    if (index < printed) return;
    progress.step(stepLine(step));
    printed = index + 1;
  };
  const show = (steps: Step[]) => steps.forEach(print);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), Math.max(0, until - Date.now()));
  try {
    const ended = await streamSteps(settings, id, timeout.signal, print);
    if (ended) {
      show(ended.steps);
      return ended;
    }
    // The stream broke (a proxy cut it, the API restarted): read the deployment instead.
    while (Date.now() < until) {
      const wait = Math.min(60, Math.max(1, Math.floor((until - Date.now()) / 1000)));
      const r = await api.GET('/api/v1/deployments/{id}', {
        params: { path: { id }, query: { wait } },
        signal: timeout.signal,
      });
      if (!r.response.ok) throw refusal(r.response.status, r.error, `reading deployment ${id}`);
      show(r.data!.steps);
      if (r.data!.outcome !== null) return r.data!;
    }
    return null;
  } catch (err) {
    if (timeout.signal.aborted) return null;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the event stream until its `end` (the deployment), or null when it breaks off first. */
async function streamSteps(
  settings: Settings,
  id: string,
  signal: AbortSignal,
  onStep: (step: Step, index: number) => void,
): Promise<Deployment | null> {
  let res: Response;
  try {
    res = await fetch(`${settings.url}/api/v1/deployments/${id}/events`, {
      headers: { ...authHeaders(settings), Accept: 'text/event-stream' },
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    return null;
  }
  if (res.status === 401 || res.status === 403 || res.status === 404)
    throw refusal(res.status, await res.json().catch(() => null), `following deployment ${id}`);
  if (!res.ok || !res.body) return null;
  let index = 0;
  try {
    for await (const { event, data } of serverEvents(res.body)) {
      if (event === 'step') onStep(JSON.parse(data) as Step, index++);
      if (event === 'end') return JSON.parse(data) as Deployment;
    }
  } catch (err) {
    if (signal.aborted) throw err;
  }
  return null;
}

/** The exit a deployment's end means, with what a pipeline log needs: the reason and the bad build's last lines. */
export function outcomeExit(d: Deployment): CliExit {
  if (d.outcome === 'succeeded' || d.outcome === 'applied_stopped')
    return new CliExit(EXIT.ok, `Deployment ${d.id}: ${d.outcome}, bot ${d.bot_id} runs revision ${d.revision}.`);
  const lines = Array.isArray(d.evidence?.last_log_lines) ? (d.evidence.last_log_lines as string[]) : [];
  const tail =
    lines.length > 0 ? `\nLast log lines of the new revision:\n${lines.map((l) => `  ${l}`).join('\n')}` : '';
  const where =
    d.outcome === 'rolled_back' ? ` Bot ${d.bot_id} runs revision ${d.rollback_revision} again (rolled back).` : '';
  return new CliExit(EXIT.failed, `Deployment ${d.id}: ${d.outcome}. ${d.reason ?? ''}${where}${tail}`);
}
