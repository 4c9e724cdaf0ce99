import { useEffect, useState } from 'preact/hooks';

export interface Notice {
  id: number;
  kind: 'ok' | 'refused' | 'error';
  text: string;
}

let next = 1;
const listeners = new Set<(n: Notice[]) => void>();
let current: Notice[] = [];

/** Tells the person what happened: the workflow's answer, or the refusal with what to do. */
export function notify(kind: Notice['kind'], text: string): void {
  const n = { id: next++, kind, text };
  current = [...current.slice(-4), n];
  for (const l of listeners) l(current);
  setTimeout(() => dismiss(n.id), kind === 'ok' ? 6_000 : 15_000);
}

export function dismiss(id: number): void {
  current = current.filter((n) => n.id !== id);
  for (const l of listeners) l(current);
}

export function Notices() {
  const [notices, setNotices] = useState(current);
  useEffect(() => {
    listeners.add(setNotices);
    return () => void listeners.delete(setNotices);
  }, []);
  return (
    <div class="notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} class={`notice notice-${n.kind}`} data-kind={n.kind}>
          <span>{n.text}</span>
          <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
