import { useEffect, useRef, useState } from 'preact/hooks';
import { session } from '../api/session';

const KEEP = 1000;

/** The bot's output as it is written (the API's server-sent events), the newest at the bottom. */
export function LogTail({ botId }: { botId: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'closed'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const follow = async (tail: number) => {
      setState('connecting');
      const send = () =>
        fetch(`/api/v1/bots/${encodeURIComponent(botId)}/logs/stream?tail=${tail}`, {
          headers: { Authorization: `Bearer ${session.accessToken ?? ''}` },
          signal: abort.signal,
        });
      let res = await send();
      if (res.status === 401 && (await session.renew())) res = await send();
      if (!res.ok || !res.body) {
        const p = (await res.json().catch(() => null)) as { detail?: string } | null;
        setError(p?.detail ?? `The log could not be followed (${res.status}).`);
        setState('closed');
        return;
      }
      setError(null);
      setState('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!block.startsWith('event: lines')) continue;
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          const batch = JSON.parse(data) as string[];
          setLines((old) => [...old, ...batch].slice(-KEEP));
        }
      }
      // The server ends a stream after a while: follow on, without the lines already shown.
      if (!abort.signal.aborted) retry = setTimeout(() => void follow(0).catch(() => undefined), 500);
    };
    void follow(200).catch(() => {
      if (!abort.signal.aborted) setState('closed');
    });
    return () => {
      abort.abort();
      clearTimeout(retry);
    };
  }, [botId]);

  useEffect(() => {
    const el = pre.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section class="card" aria-labelledby="log-title">
      <h2 id="log-title">
        Output <span class={`live live-${state === 'live' ? 'open' : state}`}>{state}</span>
      </h2>
      {error && <p class="error">{error}</p>}
      <pre class="log" ref={pre} tabIndex={0} aria-label={`Output of ${botId}`} data-lines={lines.length}>
        {lines.length ? lines.join('\n') : 'No output yet.'}
      </pre>
    </section>
  );
}
