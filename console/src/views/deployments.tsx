import { useEffect, useRef, useState } from 'preact/hooks';
import { api, problemWords } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { socket } from '../api/socket';
import { notify } from '../notices';

type Deployment = components['schemas']['Deployment'];
type Revision = components['schemas']['Revision'];

const PHASE_CLASS: Record<string, string> = {
  succeeded: 'status-running',
  rolled_back: 'status-degraded',
  failed: 'status-failed',
  cancelled: 'status-stopped',
  superseded: 'status-stopped',
};

const phaseWords = (phase: string) => phase.replace('_', ' ');

/** What a revision runs, in one line. */
function runs(r: Revision): string {
  const s = r.spec;
  const what = s.artifact ? `${s.artifact.slice(0, 19)}… ${s.entrypoint}` : (s.blueprint ?? s.image ?? '');
  return [what, ...s.args].join(' ');
}

/**
 * A bot's deployments with their live phase and steps, and its revisions
 * with a way back to a healthy one (through the same gate).
 */
export function Deployments({ botId, onChange }: { botId: string; onChange: () => void }) {
  const [deployments, setDeployments] = useState<Deployment[] | null>(null);
  const [revisions, setRevisions] = useState<Revision[] | null>(null);
  const [target, setTarget] = useState<Revision | null>(null);
  const mayRead = session.has('deployments:read');
  const mayRollBack = session.has('deployments:create');

  const loadDeployments = async () => {
    if (!mayRead) return;
    const { data } = await api.GET('/api/v1/deployments', { params: { query: { bot_id: botId, limit: 5 } } });
    if (data) setDeployments(data.deployments);
  };
  const loadRevisions = async () => {
    const { data } = await api.GET('/api/v1/bots/{id}/revisions', {
      params: { path: { id: botId }, query: { limit: 10 } },
    });
    if (data) setRevisions(data.revisions);
  };

  useEffect(() => {
    void loadDeployments();
    void loadRevisions();
    // A step of this bot's deployment: its phase and steps as they happen; a new revision with it.
    return socket.on((m) => {
      if (m.type !== 'event' || m.kind !== 'deployment' || m.bot_id !== botId) return;
      void loadDeployments();
      void loadRevisions();
    });
  }, [botId]);

  const rollBack = async (revision: Revision) => {
    setTarget(null);
    const { data, error } = await api.POST('/api/v1/bots/{id}/rollback', {
      params: { path: { id: botId } },
      body: { revision: revision.revision, supersede: false },
    });
    if (!data) {
      notify('refused', problemWords(error, 'The rollback was refused.'));
      return;
    }
    notify('ok', data.message);
    void loadDeployments();
    void loadRevisions();
    onChange();
  };

  const latest = deployments?.[0];
  return (
    <section class="card" aria-labelledby="deployments-title">
      <h2 id="deployments-title">Deployments</h2>
      {latest && (
        <div class="deployment" data-deployment={latest.id}>
          <p>
            Latest: {latest.ref ?? `revision ${latest.revision}`}{' '}
            <span class={`badge ${PHASE_CLASS[latest.phase] ?? 'status-deploying'}`} data-phase={latest.phase}>
              {phaseWords(latest.phase)}
            </span>{' '}
            <span class="muted">by {latest.requested_by}</span>
          </p>
          <ol class="steps" aria-label="Steps of the latest deployment">
            {latest.steps.map((s) => (
              <li key={`${s.phase}-${s.at}`}>
                <time dateTime={s.at}>{s.at.slice(11, 19)}</time> <strong>{phaseWords(s.phase)}</strong>: {s.detail}
              </li>
            ))}
          </ol>
          {Array.isArray(latest.evidence?.last_log_lines) &&
            (latest.evidence.last_log_lines as string[]).length > 0 && (
              <details>
                <summary>Last log lines of the failed revision</summary>
                <pre>{(latest.evidence.last_log_lines as string[]).join('\n')}</pre>
              </details>
            )}
        </div>
      )}
      {deployments && deployments.length > 1 && (
        <table>
          <caption class="visually-hidden">Earlier deployments</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Phase</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {deployments.slice(1).map((d) => (
              <tr key={d.id}>
                <td>{d.created_at.slice(0, 16).replace('T', ' ')}</td>
                <td>{d.ref ?? `revision ${d.revision}`}</td>
                <td>{phaseWords(d.phase)}</td>
                <td>{d.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {deployments?.length === 0 && <p class="muted">No deployment yet.</p>}
      <h3>Revisions</h3>
      {revisions && (
        <table class="revisions">
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">Runs</th>
              <th scope="col">From</th>
              <th scope="col">Healthy</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {revisions.map((r) => (
              <tr key={r.revision} data-revision={r.revision}>
                <td>
                  {r.revision}
                  {r.current && <span class="muted"> (current)</span>}
                </td>
                <td>
                  <code>{runs(r)}</code>
                </td>
                <td>{r.restores ? `${r.source} of ${r.restores}` : r.source}</td>
                <td>{r.healthy ? 'yes' : 'no'}</td>
                <td class="actions">
                  {mayRollBack && !r.current && r.healthy && (
                    <button type="button" onClick={() => setTarget(r)}>
                      roll back to {r.revision}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {target && (
        <ConfirmRollback
          botId={botId}
          revision={target}
          onCancel={() => setTarget(null)}
          onConfirm={() => void rollBack(target)}
        />
      )}
    </section>
  );
}

function ConfirmRollback({
  botId,
  revision,
  onConfirm,
  onCancel,
}: {
  botId: string;
  revision: Revision;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="card" aria-labelledby="rollback-title" onClose={onCancel}>
      <h2 id="rollback-title">
        Roll {botId} back to revision {revision.revision}?
      </h2>
      <p>
        {botId} restarts on what revision {revision.revision} ran (<code>{runs(revision)}</code>), as a new revision,
        and must pass the health gate; if it does not, it goes back again.
      </p>
      <div class="dialog-buttons">
        <button type="button" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" onClick={onConfirm}>
          Roll back to {revision.revision}
        </button>
      </div>
    </dialog>
  );
}
