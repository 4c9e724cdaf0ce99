import { useEffect, useState } from 'preact/hooks';
import { session, type Me } from './api/session';
import { socket, type SocketState } from './api/socket';
import { fleet } from './fleet';
import { Notices } from './notices';
import { href, useRoute } from './route';
import { forgetPlatformInfo } from './platform';
import { BotPage } from './views/bot';
import { BotForm, EditBot } from './views/bot-form';
import { Chat } from './views/chat';
import { Fleet } from './views/fleet';
import { Incidents } from './views/incidents';
import { Recommendations } from './views/recommendations';
import { Home } from './views/home';
import { Login } from './views/login';

const NAV: Array<{ path: string; label: string; needs?: string }> = [
  { path: '', label: 'Home' },
  { path: 'fleet', label: 'Fleet', needs: 'bots:read' },
  { path: 'recommendations', label: 'Recommendations', needs: 'bots:read' },
  { path: 'incidents', label: 'Incidents', needs: 'incidents:read' },
  { path: 'chat', label: 'Chat', needs: 'chat:ask' },
];

export function App() {
  const [me, setMe] = useState<Me | null>(session.me);
  const [resuming, setResuming] = useState(true);
  const [live, setLive] = useState<SocketState>(socket.state);
  const route = useRoute();

  useEffect(() => {
    const off = session.onChange(setMe);
    // The fleet is read while the sign-in's identity is (every role may read bots).
    const offSignIn = session.onSignIn(() => fleet.prefetch());
    void session.resume().finally(() => setResuming(false));
    const offState = socket.onState(setLive);
    return () => {
      off();
      offSignIn();
      offState();
    };
  }, []);
  useEffect(() => {
    if (!me) return;
    socket.connect();
    if (session.has('bots:read')) fleet.start();
    return () => {
      socket.close();
      fleet.stop();
      forgetPlatformInfo();
    };
  }, [me?.id]);

  if (resuming) return <p class="loading">Loading…</p>;
  if (!me) return <Login />;

  const page = route[0] ?? '';
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href()}>
          Codex-32
        </a>
        <nav aria-label="Console">
          <ul>
            {NAV.filter((n) => !n.needs || session.has(n.needs)).map((n) => (
              <li key={n.path}>
                <a href={href(...(n.path ? [n.path] : []))} aria-current={page === n.path ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`live live-${live}`} title="Live updates">
          {live === 'open' ? 'live' : live === 'connecting' ? 'connecting…' : 'offline'}
        </span>
        <span class="who">
          {me.name} <span class="muted">({me.role ?? 'custom'})</span>
        </span>
        <button type="button" class="link" onClick={() => void session.logout()}>
          Sign out
        </button>
      </header>
      {page === 'fleet' ? (
        <Fleet />
      ) : page === 'recommendations' ? (
        <main id="main">
          <h1>Recommendations</h1>
          <Recommendations />
        </main>
      ) : page === 'chat' ? (
        <Chat />
      ) : page === 'incidents' && session.has('incidents:read') ? (
        <Incidents />
      ) : page === 'new-bot' && session.has('bots:create') ? (
        <BotForm />
      ) : page === 'bots' && route[1] && route[2] === 'edit' ? (
        <EditBot id={route[1]} />
      ) : page === 'bots' && route[1] ? (
        <BotPage id={route[1]} />
      ) : (
        <Home />
      )}
      <Notices />
    </>
  );
}
