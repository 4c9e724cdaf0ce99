import { useEffect, useRef, useState } from 'preact/hooks';
import { socket, type ServerMessage } from '../api/socket';

interface Line {
  id: number;
  who: 'you' | 'platform' | 'heard';
  text: string;
  kind?: 'error' | 'confirm' | 'partial';
  /** A question back that waits for Confirm or Cancel. */
  pending?: boolean;
}

let nextId = 1;

/** The command socket in the page: type a command, read the reply; confirmations are buttons. */
export function Chat() {
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const list = useRef<HTMLOListElement>(null);

  const add = (line: Omit<Line, 'id'>) => setLines((l) => [...l.slice(-200), { ...line, id: nextId++ }]);
  useEffect(
    () =>
      socket.on((m: ServerMessage) => {
        if (m.type === 'reply') {
          // The page's own subscription to the fleet is not a conversation.
          if (m.data && 'subscribed' in m.data) return;
          add({ who: 'platform', text: m.text });
        } else if (m.type === 'confirm') add({ who: 'platform', text: m.text, kind: 'confirm', pending: true });
        else if (m.type === 'error') add({ who: 'platform', text: m.text, kind: 'error' });
        else if (m.type === 'transcript')
          setLines((l) => {
            const rest = l.at(-1)?.kind === 'partial' ? l.slice(0, -1) : l;
            return [
              ...rest,
              { id: nextId++, who: 'heard', text: m.text || '…', kind: m.final ? undefined : 'partial' },
            ];
          });
      }),
    [],
  );
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }, [lines]);

  const send = (e: Event) => {
    e.preventDefault();
    const command = text.trim();
    if (!command) return;
    if (!socket.sendJson({ type: 'command', text: command }))
      return add({ who: 'platform', text: 'Not connected: wait a moment and send it again.', kind: 'error' });
    add({ who: 'you', text: command });
    setText('');
  };
  const answer = (id: number, yes: boolean) => {
    socket.sendJson({ type: yes ? 'confirm' : 'cancel' });
    setLines((l) => l.map((x) => (x.id === id ? { ...x, pending: false } : x)));
    add({ who: 'you', text: yes ? 'Confirm' : 'Cancel' });
  };

  return (
    <main id="main" class="chat">
      <h1>Chat</h1>
      <ol class="conversation card" ref={list} aria-live="polite" aria-label="Conversation">
        {lines.length === 0 && (
          <li class="muted">Try "status", "list bots", "start &lt;bot&gt;", "what is &lt;bot&gt; doing" or "help".</li>
        )}
        {lines.map((l) => (
          <li key={l.id} class={`from-${l.who}${l.kind ? ` ${l.kind}` : ''}`} data-from={l.who}>
            <span class="visually-hidden">
              {l.who === 'you' ? 'You: ' : l.who === 'heard' ? 'Heard: ' : 'Codex-32: '}
            </span>
            {l.text}
            {l.pending && (
              <span class="actions">
                <button type="button" class="danger small" onClick={() => answer(l.id, true)}>
                  Confirm
                </button>
                <button type="button" class="small" onClick={() => answer(l.id, false)}>
                  Cancel
                </button>
              </span>
            )}
          </li>
        ))}
      </ol>
      <form class="chat-input" onSubmit={send}>
        <label for="command" class="visually-hidden">
          Command
        </label>
        <input
          id="command"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          placeholder="Type a command"
          maxLength={1000}
          autoComplete="off"
        />
        <button type="submit" class="primary">
          Send
        </button>
      </form>
    </main>
  );
}
