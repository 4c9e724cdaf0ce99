import { useEffect, useState } from 'preact/hooks';
import { api, problemWords } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { socket } from '../api/socket';
import { notify } from '../notices';
import { href } from '../route';

type Recommendation = components['schemas']['Recommendation'];
type Action = Recommendation['actions'][number];

/** GET actions open in the console (logs on the bot page); the rest are sent as they are written. */
async function carryOut(r: Recommendation, a: Action): Promise<boolean> {
  if (a.method === 'GET') {
    location.hash = href('bots', r.bot_id);
    return true;
  }
  // The action's path and body are the API's own words: sent as given (only to this API), checked by the server like any request.
  if (!/^\/api\/v1\/[\w./?=&-]*$/.test(a.path) || a.path.includes('//')) {
    notify('error', `Not sent: ${a.path} is not a path of this API.`);
    return false;
  }
  const res = await fetch(a.path, {
    method: a.method,
    headers: {
      Authorization: `Bearer ${session.accessToken ?? ''}`,
      ...(a.body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: a.body ? JSON.stringify(a.body) : undefined,
  });
  const body = (await res.json().catch(() => null)) as { message?: string } | null;
  if (res.ok) notify('ok', `${a.description}: ${body?.message ?? 'done'}.`);
  else
    notify(
      res.status === 403 || res.status === 409 ? 'refused' : 'error',
      `${a.description}: refused (${res.status}). ${problemWords(body)}`,
    );
  return res.ok;
}

/** What the platform would look at: each recommendation with its evidence and its actions as buttons. */
export function Recommendations({ compact = false }: { compact?: boolean }) {
  const [items, setItems] = useState<Recommendation[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    const { data, error: e } = await api.GET('/api/v1/guide/recommendations', { params: { query: { limit: 100 } } });
    if (data) setItems(data.recommendations);
    else setError(problemWords(e));
  };
  useEffect(() => {
    void load();
    // Statuses and incidents change what is recommended: read again when they do (at most every 2 s).
    let pending: ReturnType<typeof setTimeout> | undefined;
    const off = socket.on((m) => {
      if (m.type !== 'event' || pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        void load();
      }, 2_000);
    });
    return () => {
      off();
      clearTimeout(pending);
    };
  }, []);
  const shown = compact ? (items ?? []).slice(0, 5) : (items ?? []);
  return (
    <section class="card" aria-labelledby="recs-title">
      <h2 id="recs-title">Recommendations {items && <span class="muted">({items.length})</span>}</h2>
      {error && <p class="error">{error}</p>}
      {items && items.length === 0 && <p class="muted">Nothing to look at: the fleet is fine.</p>}
      <ul class="recommendations">
        {shown.map((r) => (
          <li key={r.id} data-recommendation={r.id}>
            <span class={`badge severity-${r.severity}`}>{r.severity}</span>{' '}
            <a href={href('bots', r.bot_id)}>
              <strong>{r.title}</strong>
            </a>
            <p>{r.detail}</p>
            <details>
              <summary>Evidence</summary>
              <pre class="evidence">{JSON.stringify(r.evidence, null, 2)}</pre>
            </details>
            <div class="actions">
              {r.actions.map((a) => (
                <button
                  key={`${a.method} ${a.path}`}
                  type="button"
                  class="small"
                  title={`${a.method} ${a.path}`}
                  onClick={() =>
                    void carryOut(r, a).then(async (ok) => {
                      if (ok && a.method !== 'GET') await load();
                    })
                  }
                >
                  {a.description}
                </button>
              ))}
            </div>
          </li>
        ))}
      </ul>
      {compact && items && items.length > shown.length && <a href={href('recommendations')}>All {items.length}</a>}
    </section>
  );
}
