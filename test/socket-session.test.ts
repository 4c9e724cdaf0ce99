import { afterEach, describe, expect, it, vi } from 'vitest';
import { Conversation } from '../conversation/commands.js';
import type { FleetApi } from '../conversation/fleet-api.js';
import { DEFAULT_SESSION_LIMITS, SocketSession } from '../conversation/socket-session.js';
import { createLogger } from '../lib/logger.js';

const DAY = 86_400_000;

/** A session on a recording peer; the conversation is never asked anything here. */
function session(expiresAt: Date) {
  const sent: Array<Record<string, unknown>> = [];
  const closed: Array<{ code: number; reason: string }> = [];
  const peer = {
    send: (text: string) => sent.push(JSON.parse(text) as Record<string, unknown>),
    close: (code: number, reason: string) => closed.push({ code, reason }),
    bufferedAmount: () => 0,
  };
  const notAsked = () => Promise.reject(new Error('the conversation is not asked in this test'));
  const api: FleetApi = {
    needs: () => 'bots:read',
    botNames: notAsked,
    bot: notAsked,
    fleet: notAsked,
    command: notAsked,
    remove: notAsked,
    logs: notAsked,
    incidents: notAsked,
    knowledge: notAsked,
    deployments: notAsked,
    rollback: notAsked,
  };
  const conversation = new Conversation(api, new Set());
  const s = new SocketSession(peer, conversation, {
    limits: DEFAULT_SESSION_LIMITS,
    logger: createLogger({ LOG_LEVEL: 'silent', NODE_ENV: 'test' }, 'test'),
    voice: null,
    botNames: async () => [],
    access: { expiresAt, renew: async () => ({ refused: 'not in this test' }) },
  });
  return { s, sent, closed };
}

describe('a socket session and the end of its access token', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a token that lives longer than a timer can wait (40 days) is neither warned about nor closed early, and is at its end', () => {
    vi.useFakeTimers();
    const { s, sent, closed } = session(new Date(Date.now() + 40 * DAY));
    vi.advanceTimersByTime(1_000);
    expect(closed).toEqual([]);
    vi.advanceTimersByTime(40 * DAY - 62_000);
    expect(sent).toEqual([]);
    expect(closed).toEqual([]);
    vi.advanceTimersByTime(2_000);
    expect(sent).toEqual([expect.objectContaining({ type: 'token_expiring' })]);
    expect(closed).toEqual([]);
    vi.advanceTimersByTime(60_000);
    expect(closed).toEqual([{ code: 4401, reason: expect.stringMatching(/access token expired/) }]);
    s.closeSession();
  });

  it('closing the session stops the clock', () => {
    vi.useFakeTimers();
    const { s, closed } = session(new Date(Date.now() + 5_000));
    s.closeSession();
    vi.advanceTimersByTime(10_000);
    expect(closed).toEqual([]);
  });
});
