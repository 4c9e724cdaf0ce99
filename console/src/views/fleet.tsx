import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { session } from '../api/session';
import { ACTION_PERMISSION, runAction, type BotAction } from '../actions';
import { ConfirmDelete } from '../confirm';
import { fleet, useFleet, type Row } from '../fleet';
import { ago, dash, duration, megabytes, percent } from '../format';
import { href } from '../route';

const STATUSES = ['registered', 'deploying', 'running', 'degraded', 'healing', 'stopping', 'stopped', 'failed'];
const ROW_HEIGHT = 44;
const OVERSCAN = 8;

interface Column {
  key: string;
  label: string;
  value: (r: Row, now: number) => string | number | null;
  show: (r: Row, now: number) => string;
  numeric?: boolean;
  /** In em of the table's text: the table's layout is fixed, so rows drawn while scrolling never reflow the columns. */
  width: number;
}

const uptime = (r: Row, now: number) =>
  r.uptime_seconds === null
    ? null
    : r.uptime_seconds + (r.status === 'running' || r.status === 'degraded' ? (now - r.readAt) / 1000 : 0);

const openIncidents = (r: Row) => (r.open_incidents === null ? null : r.open_incidents + r.incidentsSeen);

const COLUMNS: Column[] = [
  { key: 'bot_id', label: 'Bot', width: 12, value: (r) => r.bot_id, show: (r) => r.bot_id },
  { key: 'status', label: 'Status', width: 6.5, value: (r) => r.status, show: (r) => r.status },
  { key: 'desired_state', label: 'Desired', width: 5.5, value: (r) => r.desired_state, show: (r) => r.desired_state },
  { key: 'role', label: 'Role', width: 7, value: (r) => r.role, show: (r) => r.role },
  {
    key: 'runtime',
    label: 'Runtime',
    width: 6.5,
    value: (r) => (r.image ? 'kubernetes' : 'local'),
    show: (r) => (r.image ? 'kubernetes' : 'local'),
  },
  {
    key: 'uptime',
    label: 'Uptime',
    width: 5.5,
    value: uptime,
    show: (r, now) => duration(uptime(r, now)),
    numeric: true,
  },
  { key: 'cpu', label: 'CPU', width: 4.5, value: (r) => r.cpu_load, show: (r) => percent(r.cpu_load), numeric: true },
  {
    key: 'memory',
    label: 'Memory',
    width: 8,
    value: (r) => r.memory_usage_mb,
    show: (r) => megabytes(r.memory_usage_mb, r.resources.memory_limit_mb),
    numeric: true,
  },
  {
    key: 'error_rate',
    label: 'Errors',
    width: 5.5,
    value: (r) => r.error_rate,
    show: (r) => (r.error_rate === null ? dash : percent(r.error_rate * 100)),
    numeric: true,
  },
  {
    key: 'restarts',
    label: 'Restarts',
    width: 6.5,
    value: (r) => r.restart_count,
    show: (r) => String(r.restart_count),
    numeric: true,
  },
  {
    key: 'heartbeat',
    label: 'Heartbeat',
    width: 7,
    value: (r) => r.last_heartbeat_at,
    show: (r, now) => ago(r.last_heartbeat_at, now),
  },
  {
    key: 'incidents',
    label: 'Incidents',
    width: 6.5,
    value: openIncidents,
    show: (r) => String(openIncidents(r) ?? dash),
    numeric: true,
  },
];

/** A figure; its whole text on hover when the column is too narrow for it. */
function Cell({ numeric, name, text }: { numeric?: boolean | undefined; name: string; text: string }) {
  return (
    <td class={numeric ? 'num' : undefined} data-cell={name} title={text}>
      {text}
    </td>
  );
}

const SELECT_WIDTH = 2.5;
const ACTIONS_WIDTH = 17;
const tableWidth = (withActions: boolean) =>
  COLUMNS.reduce((sum, c) => sum + c.width, 0) + (withActions ? SELECT_WIDTH + ACTIONS_WIDTH : 0);

/** The live inventory: every bot, filtered, sorted, virtualised; changes arrive over the socket. */
export function Fleet() {
  const store = useFleet();
  const [status, setStatus] = useState('');
  const [role, setRole] = useState('');
  const [text, setText] = useState('');
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 }>({ key: 'bot_id', dir: 1 });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<string[] | null>(null);
  const [now, setNow] = useState(Date.now());
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const all = [...store.rows.values()];
  const roles = useMemo(() => [...new Set(all.map((r) => r.role))].sort(), [store.version]);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const r of all) c[r.status] = (c[r.status] ?? 0) + 1;
    return c;
  }, [store.version]);
  const column = COLUMNS.find((c) => c.key === sort.key) ?? COLUMNS[0]!;
  const needle = text.trim().toLowerCase();
  // Filtered and sorted again only when something it depends on changed (the clock only for uptime).
  const rows = useMemo(
    () =>
      all
        .filter(
          (r) =>
            (!status || r.status === status) &&
            (!role || r.role === role) &&
            (!needle ||
              r.bot_id.includes(needle) ||
              r.name.toLowerCase().includes(needle) ||
              r.role.toLowerCase().includes(needle)),
        )
        .sort((a, b) => {
          const x = column.value(a, now);
          const y = column.value(b, now);
          if (x === y) return a.bot_id < b.bot_id ? -1 : 1;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * sort.dir;
        }),
    [store.version, status, role, needle, sort, sort.key === 'uptime' ? now : 0],
  );

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const visible = rows.slice(first, last);

  const canOperate = session.has('bots:operate');
  const canDelete = session.has('bots:delete');
  const mayAct = canOperate || canDelete;

  const act = async (ids: string[], action: BotAction) => {
    for (const id of ids) {
      if (!(await runAction(id, action))) continue;
      if (action === 'delete') fleet.remove(id);
      else void fleet.refresh(id);
    }
    if (action === 'delete') setSelected(new Set());
  };
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const chosen = [...selected].filter((id) => store.rows.has(id));

  return (
    <main id="main" class="fleet">
      <div class="page-head">
        <h1>Fleet</h1>
        {session.has('bots:create') && (
          <a class="button primary" href={href('new-bot')}>
            Create bot
          </a>
        )}
      </div>
      <ul class="counts" aria-label="Bots by status">
        <li>
          <button type="button" class={status === '' ? 'chip active' : 'chip'} onClick={() => setStatus('')}>
            all <strong>{all.length}</strong>
          </button>
        </li>
        {STATUSES.map((s) => (
          <li key={s}>
            <button
              type="button"
              class={`chip status-${s}${status === s ? ' active' : ''}`}
              aria-pressed={status === s}
              onClick={() => setStatus(status === s ? '' : s)}
            >
              {s} <strong data-count={s}>{counts[s] ?? 0}</strong>
            </button>
          </li>
        ))}
      </ul>
      <div class="filters">
        <label>
          Search
          <input
            type="search"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            placeholder="id, name or role"
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="">any</option>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <span class="muted" aria-live="polite">
          {rows.length} of {all.length} shown
        </span>
      </div>
      {mayAct && chosen.length > 0 && (
        <div class="bulk" role="region" aria-label="Bulk actions">
          <span>{chosen.length} selected</span>
          {canOperate &&
            (['start', 'stop', 'restart'] as const).map((a) => (
              <button key={a} type="button" onClick={() => void act(chosen, a)}>
                {a} all
              </button>
            ))}
          {canDelete && (
            <button type="button" class="danger" onClick={() => setConfirm(chosen)}>
              delete all
            </button>
          )}
          <button type="button" class="link" onClick={() => setSelected(new Set())}>
            clear
          </button>
        </div>
      )}
      {store.error && (
        <p class="error" role="alert">
          {store.error}
        </p>
      )}
      <div
        class="table-scroll"
        ref={scroller}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        tabIndex={0}
        aria-label="Bots"
      >
        <table class="bots" aria-rowcount={rows.length + 1} style={{ minWidth: `${tableWidth(mayAct)}em` }}>
          <colgroup>
            {mayAct && <col style={{ width: `${SELECT_WIDTH}em` }} />}
            {COLUMNS.map((c) => (
              <col key={c.key} style={{ width: `${c.width}em` }} />
            ))}
            {mayAct && <col style={{ width: `${ACTIONS_WIDTH}em` }} />}
          </colgroup>
          <thead>
            <tr>
              {mayAct && (
                <th scope="col" class="select">
                  <span class="visually-hidden">Select</span>
                </th>
              )}
              {COLUMNS.map((c) => (
                <th
                  key={c.key}
                  scope="col"
                  class={c.numeric ? 'num' : undefined}
                  aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}
                >
                  <button
                    type="button"
                    class="sort"
                    onClick={() => setSort({ key: c.key, dir: sort.key === c.key ? (-sort.dir as 1 | -1) : 1 })}
                  >
                    {c.label}
                  </button>
                </th>
              ))}
              {mayAct && (
                <th scope="col" class="actions">
                  Actions
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {first > 0 && <tr aria-hidden="true" style={{ height: `${first * ROW_HEIGHT}px` }} />}
            {visible.map((r, i) => (
              <tr key={r.bot_id} data-bot={r.bot_id} data-status={r.status} aria-rowindex={first + i + 2}>
                {mayAct && (
                  <td class="select">
                    <input
                      type="checkbox"
                      aria-label={`Select ${r.bot_id}`}
                      checked={selected.has(r.bot_id)}
                      onChange={() => toggle(r.bot_id)}
                    />
                  </td>
                )}
                {COLUMNS.map((c) =>
                  c.key === 'bot_id' ? (
                    <th key={c.key} scope="row" title={r.bot_id}>
                      <a href={href('bots', r.bot_id)}>{r.bot_id}</a>
                    </th>
                  ) : c.key === 'status' ? (
                    <td key={c.key}>
                      <span class={`badge status-${r.status}`} data-cell="status" title={r.status_reason ?? undefined}>
                        {r.status}
                      </span>
                    </td>
                  ) : (
                    <Cell key={c.key} numeric={c.numeric} name={c.key} text={c.show(r, now)} />
                  ),
                )}
                {mayAct && (
                  <td class="actions">
                    {(['start', 'stop', 'restart'] as const)
                      .filter((a) => session.has(ACTION_PERMISSION[a]))
                      .map((a) => (
                        <button
                          key={a}
                          type="button"
                          class="small"
                          aria-label={`${a} ${r.bot_id}`}
                          onClick={() => void act([r.bot_id], a)}
                        >
                          {a}
                        </button>
                      ))}
                    {canDelete && (
                      <button
                        type="button"
                        class="small danger"
                        aria-label={`delete ${r.bot_id}`}
                        onClick={() => setConfirm([r.bot_id])}
                      >
                        delete
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
            {last < rows.length && (
              <tr aria-hidden="true" style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }} />
            )}
          </tbody>
        </table>
        {store.loaded && all.length === 0 && <p class="empty">No bots yet.</p>}
        {!store.loaded && !store.error && <p class="empty">Reading the fleet…</p>}
      </div>
      {confirm && (
        <ConfirmDelete
          ids={confirm}
          onCancel={() => setConfirm(null)}
          onConfirm={() => {
            const ids = confirm;
            setConfirm(null);
            void act(ids, 'delete');
          }}
        />
      )}
    </main>
  );
}
