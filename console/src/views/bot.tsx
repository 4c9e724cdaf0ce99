import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, problemWords, type Bot } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { socket } from '../api/socket';
import { ACTION_PERMISSION, runAction, type BotAction } from '../actions';
import { ConfirmDelete } from '../confirm';
import { fleet, withFigures } from '../fleet';
import { ago, duration, megabytes, percent } from '../format';
import { platformInfo } from '../platform';
import { href } from '../route';
import { TimeChart } from './chart';
import { Deployments } from './deployments';
import { IncidentItem, type Incident } from './incident-item';
import { LogTail } from './log-tail';

type Point = components['schemas']['HistoryPoint'];
const WINDOWS = ['5m', '15m', '1h', '6h', '1d'];

/** One bot: its spec, figures and their history, output, incidents, and what can be done with it. */
export function BotPage({ id }: { id: string }) {
  const [bot, setBot] = useState<Bot | null>(null);
  const [missing, setMissing] = useState<string | null>(null);
  const [window, setWindow] = useState('15m');
  const [points, setPoints] = useState<Point[]>([]);
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [summary, setSummary] = useState<string | null>(null);
  const [temporal, setTemporal] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);

  const load = async () => {
    const { data, error, response } = await api.GET('/api/v1/bots/{id}', { params: { path: { id } } });
    if (data) setBot(data);
    else setMissing(response.status === 404 ? `There is no bot ${id}.` : problemWords(error));
  };
  const loadHistory = async () => {
    const { data } = await api.GET('/api/v1/bots/{id}/history', { params: { path: { id }, query: { window } } });
    if (data) setPoints(data.samples);
  };
  const loadIncidents = async () => {
    if (!session.has('incidents:read')) return;
    const { data } = await api.GET('/api/v1/incidents', { params: { query: { bot_id: id, limit: 20 } } });
    if (data) setIncidents(data.incidents);
  };
  const loadSummary = async () => {
    const { data } = await api.GET('/api/v1/bots/{id}/knowledge', {
      params: { path: { id }, query: { window: '1h' } },
    });
    if (data) setSummary(data.summary);
  };

  useEffect(() => {
    setBot(null);
    setMissing(null);
    void load();
    void loadIncidents();
    void loadSummary();
    void platformInfo().then((p) =>
      setTemporal(
        p?.temporal_ui_url
          ? `${p.temporal_ui_url}/namespaces/${encodeURIComponent(p.temporal_namespace)}/workflows/${encodeURIComponent(`bot-${id}`)}`
          : null,
      ),
    );
    // This bot's events: read it again (status, figures, incidents) as they happen.
    return socket.on((m) => {
      if (m.type !== 'event' || m.bot_id !== id) return;
      void load();
      if (m.kind === 'incident') void loadIncidents();
    });
  }, [id]);
  // One array per series for as long as the points stay the same: the charts redraw only on new points.
  const series = useMemo(
    () => ({
      times: points.map((p) => Date.parse(p.at) / 1000),
      cpu: points.map((p) => p.cpu_load),
      memory: points.map((p) => p.memory_usage_mb),
      errors: points.map((p) => (p.error_rate === null ? null : p.error_rate * 100)),
    }),
    [points],
  );
  useEffect(() => {
    void loadHistory();
    // Each new sample of this bot (pushed at the sample interval): its figures, and the chart, move on.
    return socket.on((m) => {
      if (m.type !== 'figures') return;
      const mine = m.bots.find((b) => b.bot_id === id);
      if (!mine) return;
      setBot((b) => b && withFigures(b, mine));
      void loadHistory();
    });
  }, [id, window]);

  if (missing)
    return (
      <main id="main">
        <h1>{id}</h1>
        <p class="error" role="alert">
          {missing}
        </p>
        <a href={href('fleet')}>Back to the fleet</a>
      </main>
    );
  if (!bot)
    return (
      <main id="main">
        <p class="loading">Reading {id}…</p>
      </main>
    );

  const act = async (action: BotAction) => {
    if (!(await runAction(id, action))) return;
    if (action === 'delete') {
      fleet.remove(id);
      location.hash = href('fleet');
    } else void load();
  };
  const times = series.times;
  const limit = bot.resources.memory_limit_mb ?? null;

  return (
    <main id="main" class="bot-page">
      <div class="page-head">
        <h1>
          {bot.name} <span class="muted">{bot.bot_id}</span>{' '}
          <span class={`badge status-${bot.status}`} data-status={bot.status}>
            {bot.status}
          </span>
        </h1>
        <div class="actions">
          {(['start', 'stop', 'restart'] as const)
            .filter((a) => session.has(ACTION_PERMISSION[a]))
            .map((a) => (
              <button key={a} type="button" onClick={() => void act(a)}>
                {a}
              </button>
            ))}
          {session.has('bots:update') && (
            <a class="button" href={href('bots', id, 'edit')}>
              edit
            </a>
          )}
          {session.has('bots:delete') && (
            <button type="button" class="danger" onClick={() => setConfirm(true)}>
              delete
            </button>
          )}
        </div>
      </div>
      {bot.status_reason && <p class="muted">{bot.status_reason}</p>}
      <section class="card figures" aria-label="Now">
        <dl>
          <dt>Desired</dt>
          <dd>{bot.desired_state}</dd>
          <dt>Uptime</dt>
          <dd>{duration(bot.uptime_seconds)}</dd>
          <dt>CPU</dt>
          <dd>{percent(bot.cpu_load)}</dd>
          <dt>Memory</dt>
          <dd>{megabytes(bot.memory_usage_mb, limit)}</dd>
          <dt>Errors</dt>
          <dd>{bot.error_rate === null ? '–' : percent(bot.error_rate * 100)}</dd>
          <dt>Restarts</dt>
          <dd>{bot.restart_count}</dd>
          <dt>Heartbeat</dt>
          <dd>{ago(bot.last_heartbeat_at)}</dd>
          <dt>pid</dt>
          <dd>{bot.pid ?? '–'}</dd>
          <dt>Workflow</dt>
          <dd>{temporal ? <a href={temporal}>{bot.workflow_id} in Temporal UI</a> : bot.workflow_id}</dd>
        </dl>
        {summary && <p class="summary">{summary}</p>}
      </section>
      <section class="card" aria-labelledby="history-title">
        <div class="page-head">
          <h2 id="history-title">History</h2>
          <label class="inline">
            Window
            <select value={window} onChange={(e) => setWindow(e.currentTarget.value)}>
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  {w}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="charts">
          <TimeChart id="cpu" title="CPU" unit="% of a core" times={times} values={series.cpu} />
          <TimeChart
            id="memory"
            title="Memory"
            unit={limit ? `MB of ${limit}` : 'MB'}
            times={times}
            values={series.memory}
          />
          <TimeChart
            id="errors"
            title="Error rate"
            unit="%"
            times={times}
            values={series.errors}
            empty="None in this window: the bot's heartbeats report no request counts (the SDK's requests and errors)."
          />
        </div>
      </section>
      <Deployments botId={id} onChange={() => void load()} />
      {session.has('bots:logs') && <LogTail botId={id} />}
      {incidents && (
        <section class="card" aria-labelledby="incidents-title">
          <h2 id="incidents-title">Incidents</h2>
          {incidents.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <ul class="incidents">
              {incidents.map((i) => (
                <IncidentItem
                  key={i.id}
                  incident={i}
                  withBot={false}
                  onChange={() => {
                    void loadIncidents();
                    void load();
                  }}
                />
              ))}
            </ul>
          )}
        </section>
      )}
      <section class="card" aria-labelledby="spec-title">
        <h2 id="spec-title">Spec</h2>
        <dl class="spec">
          <dt>Role</dt>
          <dd>{bot.role}</dd>
          <dt>{bot.image ? 'Image' : bot.blueprint ? 'Blueprint' : 'Artifact'}</dt>
          <dd>
            <code>{bot.image ?? bot.blueprint ?? `${bot.artifact ?? ''} ${bot.entrypoint ?? ''}`}</code>
          </dd>
          <dt>Revision</dt>
          <dd>{bot.revision}</dd>
          <dt>Arguments</dt>
          <dd>{bot.args.length ? <code>{bot.args.join(' ')}</code> : '–'}</dd>
          <dt>Environment</dt>
          <dd>{bot.env.length ? bot.env.join(', ') : '–'}</dd>
          <dt>Resources</dt>
          <dd>
            memory {bot.resources.memory_limit_mb ?? 'no limit'} MB, CPU {bot.resources.cpu_limit ?? 'no limit'}
          </dd>
          <dt>Healing</dt>
          <dd>
            at most {bot.heal_policy.max_restarts} restarts in {bot.heal_policy.window_seconds} s, backoff{' '}
            {bot.heal_policy.backoff_initial_seconds}–{bot.heal_policy.backoff_max_seconds} s ×
            {bot.heal_policy.backoff_factor}
          </dd>
          <dt>Heartbeat</dt>
          <dd>{bot.heartbeat_interval_seconds ? `every ${bot.heartbeat_interval_seconds} s` : 'not required'}</dd>
        </dl>
      </section>
      {confirm && (
        <ConfirmDelete
          ids={[id]}
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            void act('delete');
          }}
        />
      )}
    </main>
  );
}
