import { answer, authHeaders, refusal } from '../api-client.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { followDeployment, outcomeExit, stepLine } from '../follow.js';
import { duration, table } from '../output.js';
import { serverEvents } from '../server-events.js';
import type { Io } from './deploy.js';

const ok = (message = '') => new CliExit(EXIT.ok, message);

export async function bots(o: { json?: boolean }, io: Io): Promise<CliExit> {
  const list = answer(await io.api.GET('/api/v1/bots', { params: { query: { limit: 1000 } } }), 'listing bots');
  if (o.json) io.stdout(JSON.stringify(list.bots, null, 2));
  else
    io.stdout(
      table(
        ['BOT', 'STATUS', 'REVISION', 'PID', 'UPTIME', 'RESTARTS'],
        list.bots.map((b) => [b.bot_id, b.status, b.revision, b.pid, duration(b.uptime_seconds), b.restart_count]),
      ),
    );
  return ok();
}

export async function status(botId: string, o: { json?: boolean }, io: Io): Promise<CliExit> {
  const b = answer(await io.api.GET('/api/v1/bots/{id}', { params: { path: { id: botId } } }), `reading ${botId}`);
  if (o.json) io.stdout(JSON.stringify(b, null, 2));
  else
    io.stdout(
      [
        `${b.bot_id}: ${b.status}${b.status_reason ? ` (${b.status_reason})` : ''}, desired ${b.desired_state}`,
        `revision ${b.revision}  ${b.blueprint ?? b.image ?? `${b.artifact} ${b.entrypoint}`}${b.args.length ? ` ${b.args.join(' ')}` : ''}`,
        `pid ${b.pid ?? '-'}  uptime ${duration(b.uptime_seconds)}  cpu ${b.cpu_load ?? '-'}%  memory ${b.memory_usage_mb ?? '-'} MB  error rate ${b.error_rate ?? '-'}  restarts ${b.restart_count}`,
      ].join('\n'),
    );
  return ok();
}

export async function revisions(botId: string, o: { json?: boolean }, io: Io): Promise<CliExit> {
  const r = answer(
    await io.api.GET('/api/v1/bots/{id}/revisions', { params: { path: { id: botId }, query: { limit: 100 } } }),
    `reading the revisions of ${botId}`,
  );
  if (o.json) io.stdout(JSON.stringify(r, null, 2));
  else
    io.stdout(
      table(
        ['REVISION', 'SOURCE', 'HEALTHY', 'RUNS', 'CREATED', 'BY'],
        r.revisions.map((v) => [
          `${v.revision}${v.current ? '*' : ''}`,
          v.restores ? `${v.source} of ${v.restores}` : v.source,
          v.healthy ? 'yes' : 'no',
          [
            v.spec.artifact
              ? `${v.spec.artifact.slice(0, 19)}:${v.spec.entrypoint}`
              : (v.spec.blueprint ?? v.spec.image),
            ...v.spec.args,
          ].join(' '),
          v.created_at.slice(0, 19).replace('T', ' '),
          v.created_by,
        ]),
      ),
    );
  return ok();
}

export async function deployments(
  botId: string | undefined,
  o: { json?: boolean; limit: number },
  io: Io,
): Promise<CliExit> {
  const r = answer(
    await io.api.GET('/api/v1/deployments', {
      params: { query: { ...(botId ? { bot_id: botId } : {}), limit: o.limit } },
    }),
    'listing deployments',
  );
  if (o.json) io.stdout(JSON.stringify(r.deployments, null, 2));
  else
    io.stdout(
      table(
        ['DEPLOYMENT', 'BOT', 'PHASE', 'REVISION', 'REF', 'CREATED', 'REASON'],
        r.deployments.map((d) => [
          d.id,
          d.bot_id,
          d.phase,
          d.revision,
          d.ref,
          d.created_at.slice(0, 19).replace('T', ' '),
          d.reason ? d.reason.slice(0, 60) : null,
        ]),
      ),
    );
  return ok();
}

export async function rollback(
  botId: string,
  o: { revision?: number; wait?: boolean; timeout: number; json?: boolean },
  io: Io,
): Promise<CliExit> {
  const created = await io.api.POST('/api/v1/bots/{id}/rollback', {
    params: { path: { id: botId } },
    body: { ...(o.revision ? { revision: o.revision } : {}), supersede: false },
  });
  const d = answer(created, `rolling ${botId} back`);
  for (const step of d.steps) io.progress.step(stepLine(step));
  if (!o.wait) {
    io.progress.done();
    if (o.json) io.stdout(JSON.stringify(d, null, 2));
    return ok(`Rollback ${d.id} of ${botId} started (revision ${d.revision}).`);
  }
  const ended = await followDeployment(io.api, io.settings, d.id, o.timeout, io.progress);
  io.progress.done();
  if (!ended) return new CliExit(EXIT.timedOut, `Rollback ${d.id} had not ended after ${o.timeout} s (--timeout).`);
  if (o.json) io.stdout(JSON.stringify(ended, null, 2));
  return outcomeExit(ended);
}

export async function logs(botId: string, o: { follow?: boolean; tail: number }, io: Io): Promise<CliExit> {
  if (!o.follow) {
    const r = answer(
      await io.api.GET('/api/v1/bots/{id}/logs', { params: { path: { id: botId }, query: { tail: o.tail } } }),
      `reading the output of ${botId}`,
    );
    if (r.lines.length > 0) io.stdout(r.lines.join('\n'));
    return ok();
  }
  const res = await fetch(`${io.settings.url}/api/v1/bots/${encodeURIComponent(botId)}/logs/stream?tail=${o.tail}`, {
    headers: { ...authHeaders(io.settings), Accept: 'text/event-stream' },
  });
  if (!res.ok || !res.body) throw refusal(res.status, await res.json().catch(() => null), `following ${botId}`);
  for await (const { event, data } of serverEvents(res.body))
    if (event === 'lines') for (const line of JSON.parse(data) as string[]) io.stdout(line);
  return ok();
}
