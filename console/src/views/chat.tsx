import { useEffect, useRef, useState } from 'preact/hooks';
import { socket, type ServerMessage } from '../api/socket';
import { Microphone, type MicState } from '../voice/microphone';

/** A press shorter than this is a click: the microphone stays open until the next one. */
const TAP_MS = 300;

interface Line {
  id: number;
  who: 'you' | 'platform' | 'heard';
  text: string;
  kind?: 'error' | 'confirm' | 'partial';
  /** A question back that waits for Confirm or Cancel. */
  pending?: boolean;
}

let nextId = 1;

/** The command socket in the page: type or say a command, read the reply; confirmations are buttons. */
export function Chat() {
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const [mic, setMic] = useState<MicState>('idle');
  const list = useRef<HTMLOListElement>(null);
  const microphone = useRef<Microphone | null>(null);
  const pressedAt = useRef(0);

  const add = (line: Omit<Line, 'id'>) => setLines((l) => [...l.slice(-200), { ...line, id: nextId++ }]);
  useEffect(
    () =>
      socket.on((m: ServerMessage) => {
        if (m.type === 'reply') {
          // The page's own subscription to the fleet is not a conversation.
          if (m.data && 'subscribed' in m.data) return;
          add({ who: 'platform', text: m.text });
        } else if (m.type === 'confirm') add({ who: 'platform', text: m.text, kind: 'confirm', pending: true });
        else if (m.type === 'error') {
          add({ who: 'platform', text: m.text, kind: 'error' });
          // Refused while speaking (voice switched off or busy): the utterance is dropped.
          if (microphone.current?.state !== 'idle') microphone.current?.cancel();
        } else if (m.type === 'transcript')
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
  useEffect(() => () => microphone.current?.cancel(), []);

  // Push-to-talk: hold the button (or Space) while speaking; a short press toggles instead.
  const press = () => {
    const m = (microphone.current ??= new Microphone(setMic));
    if (m.state === 'listening') return m.stop();
    if (m.state !== 'idle') return;
    pressedAt.current = Date.now();
    m.start().catch((err: Error) => add({ who: 'platform', text: err.message, kind: 'error' }));
  };
  const release = () => {
    if (Date.now() - pressedAt.current >= TAP_MS) microphone.current?.stop();
  };
  const onKey = (down: boolean) => (e: KeyboardEvent) => {
    if (e.key !== ' ' && e.key !== 'Enter') return;
    e.preventDefault();
    if (down && !e.repeat) press();
    else if (!down) release();
  };
  const micLabel = mic === 'listening' ? 'Listening… release to send' : mic === 'sending' ? 'Sending…' : 'Hold to talk';

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
        {Microphone.supported() ? (
          <button
            type="button"
            class={`mic${mic === 'listening' ? ' live' : ''}`}
            aria-pressed={mic === 'listening' || mic === 'starting'}
            disabled={mic === 'sending'}
            onPointerDown={(e) => {
              e.preventDefault();
              press();
            }}
            onPointerUp={release}
            onPointerLeave={() => mic === 'listening' && release()}
            onKeyDown={onKey(true)}
            onKeyUp={onKey(false)}
          >
            {micLabel}
          </button>
        ) : (
          <span class="muted small">Voice needs a secure page (HTTPS or localhost) and a microphone.</span>
        )}
      </form>
    </main>
  );
}
