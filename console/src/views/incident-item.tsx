import { api, problemWords } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { ago } from '../format';
import { notify } from '../notices';
import { href } from '../route';

export type Incident = components['schemas']['Incident'];

/** One incident: what happened, what the platform did, and (with incidents:manage) acknowledge and resolve. */
export function IncidentItem({
  incident: i,
  withBot,
  onChange,
}: {
  incident: Incident;
  /** Name the bot (a list across the fleet). */
  withBot: boolean;
  onChange: () => void;
}) {
  const act = async (what: 'acknowledge' | 'resolve') => {
    const params = { params: { path: { id: i.id } } };
    const { error, response } =
      what === 'acknowledge'
        ? await api.POST('/api/v1/incidents/{id}/acknowledge', params)
        : await api.POST('/api/v1/incidents/{id}/resolve', { ...params, body: {} });
    if (response.ok) notify('ok', `Incident on ${i.bot_id} ${what === 'acknowledge' ? 'acknowledged' : 'resolved'}.`);
    else notify('refused', `${what} refused (${response.status}). ${problemWords(error)}`);
    onChange();
  };
  return (
    <li data-incident={i.id} data-state={i.state}>
      <span class={`badge severity-${i.severity}`}>{i.severity}</span> <strong>{i.kind}</strong>
      {withBot && (
        <>
          {' '}
          on <a href={href('bots', i.bot_id)}>{i.bot_id}</a>
        </>
      )}{' '}
      <span class="muted">
        {i.state}, {ago(i.created_at)}
      </span>
      <p>{i.message}</p>
      {i.outcome && <p class="muted">{i.outcome}</p>}
      {session.has('incidents:manage') && i.state !== 'resolved' && (
        <div class="actions">
          {(i.state === 'open' ? (['acknowledge', 'resolve'] as const) : (['resolve'] as const)).map((what) => (
            <button
              key={what}
              type="button"
              class="small"
              aria-label={`${what} ${i.kind} on ${i.bot_id}`}
              onClick={() => void act(what)}
            >
              {what}
            </button>
          ))}
        </div>
      )}
    </li>
  );
}
