import { useEffect, useState } from 'preact/hooks';
import { api, problemWords } from '../api/client';
import { socket } from '../api/socket';
import { IncidentItem, type Incident } from './incident-item';
type Query = {
  severity?: 'info' | 'warning' | 'critical';
  state?: 'open' | 'acknowledged' | 'resolved';
  kind?: string;
  bot_id?: string;
  since?: string;
};
const SINCE: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

/** Incidents across the fleet: filtered, newest first, new ones as they happen; acknowledge and resolve. */
export function Incidents() {
  const [filter, setFilter] = useState<{ severity: string; state: string; kind: string; bot: string; since: string }>({
    severity: '',
    state: 'open',
    kind: '',
    bot: '',
    since: '',
  });
  const [items, setItems] = useState<Incident[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);

  const load = async () => {
    const query: Query & { limit: number } = { limit: 200 };
    if (filter.severity) query.severity = filter.severity as Query['severity'];
    if (filter.state) query.state = filter.state as Query['state'];
    if (filter.kind.trim()) query.kind = filter.kind.trim();
    if (filter.bot.trim()) query.bot_id = filter.bot.trim();
    if (filter.since) query.since = new Date(Date.now() - SINCE[filter.since]!).toISOString();
    const { data, error: e } = await api.GET('/api/v1/incidents', { params: { query } });
    if (data) {
      setItems(data.incidents);
      setTotal(data.total);
      setError(null);
    } else setError(problemWords(e));
  };
  useEffect(() => {
    void load();
    return socket.on((m) => {
      // A deleted bot's incidents go with it.
      if (m.type === 'event' && (m.kind === 'incident' || m.kind === 'deleted')) void load();
    });
  }, [filter]);

  const set = (k: keyof typeof filter) => (e: Event) =>
    setFilter((f) => ({ ...f, [k]: (e.currentTarget as HTMLInputElement).value }));

  return (
    <main id="main">
      <h1>Incidents</h1>
      <div class="filters">
        <label>
          Severity
          <select value={filter.severity} onChange={set('severity')}>
            <option value="">any</option>
            <option value="critical">critical</option>
            <option value="warning">warning</option>
            <option value="info">info</option>
          </select>
        </label>
        <label>
          State
          <select value={filter.state} onChange={set('state')}>
            <option value="">any</option>
            <option value="open">open</option>
            <option value="acknowledged">acknowledged</option>
            <option value="resolved">resolved</option>
          </select>
        </label>
        <label>
          Kind
          <input value={filter.kind} onChange={set('kind')} placeholder="e.g. process_exited" />
        </label>
        <label>
          Bot
          <input value={filter.bot} onChange={set('bot')} placeholder="bot id" />
        </label>
        <label>
          Since
          <select value={filter.since} onChange={set('since')}>
            <option value="">any time</option>
            <option value="1h">the last hour</option>
            <option value="24h">the last day</option>
            <option value="7d">the last week</option>
          </select>
        </label>
        <span class="muted" aria-live="polite">
          {items ? `${items.length} of ${total}` : ''}
        </span>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items && items.length === 0 && <p class="empty">No incidents match.</p>}
      <ul class="incidents card">
        {(items ?? []).map((i) => (
          <IncidentItem key={i.id} incident={i} withBot onChange={() => void load()} />
        ))}
      </ul>
    </main>
  );
}
