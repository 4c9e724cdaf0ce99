import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { TokenService } from '../api/auth/tokens.js';
import { startTestPlatform, waitFor, waitForBot, type TestPlatform } from './helpers/platform.js';
import { Client, refusal } from './helpers/socket-client.js';

const SECRET = `chat-test-secret-${'x'.repeat(40)}`;

describe('the command socket: chat commands over WebSocket', () => {
  let t: TestPlatform;
  const tokens: Record<string, string> = {};
  const url = (user: string, token?: string) =>
    `${t.url.replace('http', 'ws')}/ws/command/${user}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  const as = (role: string) => Client.open(url(`chat-${role}`, tokens[role]));

  beforeAll(async () => {
    // Voice has its own suite (voice.test.ts); here it is off, and says so.
    t = await startTestPlatform('postgres', {
      ENABLE_VOICE_INPUT: 'false',
      API_SECRET_KEY: SECRET,
      BOT_SAMPLE_INTERVAL_SECONDS: '0.5',
    });
    for (const role of ['operator', 'viewer', 'user']) {
      const username = `chat-${role}`;
      const password = `Correct horse ${role} battery 42!`;
      expect((await t.request('POST', '/api/v1/users', { username, password, role })).status).toBe(201);
      tokens[role] = (await t.anonymous('POST', '/api/v1/auth/login', { username, password })).body.access_token;
    }
    for (const [id, name] of [
      ['analytics-bot-v1', 'Analytics bot'],
      ['echo-one', 'Echo'],
      ['weather-v1', 'Weather reporter'],
      ['weather-v2', 'Weather reporter, new'],
    ]) {
      await t.request('POST', '/api/v1/bots', { id, name, blueprint: 'sleeper.mjs' });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses the upgrade without a valid token of that very user', async () => {
    expect(await refusal(Client.open(url('chat-operator')))).toBe(401);
    expect(await refusal(Client.open(url('chat-operator', 'not.a.token')))).toBe(401);
    expect(await refusal(Client.open(url('chat-operator', `${tokens.operator}x`)))).toBe(401);
    expect(await refusal(Client.open(url('chat-viewer', tokens.operator)))).toBe(403);
    const plain = await fetch(url('chat-operator', tokens.operator).replace('ws', 'http'));
    expect(plain.status).toBe(426);
    // The token may come as a subprotocol instead (browsers cannot set headers).
    const viaProtocol = await Client.open(url('chat-operator'), ['codex32', tokens.operator!]);
    expect(viaProtocol.ws.protocol).toBe('codex32');
    expect((await viaProtocol.ask('help')).type).toBe('reply');
    viaProtocol.close();
  });

  it('runs commands in natural phrasing through the REST routes, and the workflow starts the bot', async () => {
    const op = await as('operator');
    const started = await op.ask('Run the analytics bot');
    expect(started).toMatchObject({ type: 'reply', data: { action: 'start', bot_id: 'analytics-bot-v1' } });
    expect(started.text).toMatch(/Start accepted: analytics-bot-v1/);
    await waitForBot(t, 'analytics-bot-v1', 'running', (b) => b.status === 'running');
    // The workflow learns it once the launch returns: only then is "start" refused as already running.
    await waitFor(async () => (await t.botState('analytics-bot-v1')).status === 'running', 'the workflow at running');
    const status = await op.ask({ type: 'command', text: 'is analytics running?' });
    expect(status.text).toMatch(/^analytics-bot-v1 is running \(pid \d+/);
    expect((await op.ask('status')).text).toMatch(/^4 bots: .*1 running/);
    expect((await op.ask('list bots')).data.bots).toHaveLength(4);
    expect((await op.ask('what is the analytics bot doing?')).text).toMatch(/^analytics-bot-v1 is running/);
    expect((await op.ask('show the last 5 lines of analytics logs')).data.lines.length).toBeLessThanOrEqual(5);
    expect((await op.ask('incidents for analytics')).text).toBe('No incidents of analytics-bot-v1.');
    expect((await op.ask('make me a sandwich')).data).toEqual({ understood: false });
    expect((await op.ask('start zebra')).text).toMatch(/I know no bot called "zebra"/);
    // A refusal from the workflow comes back in words.
    expect((await op.ask('start analytics')).text).toMatch(/already running/);
    // The audit trail records the chat's calls as the user's own.
    const audit = (await t.request('GET', '/api/v1/audit?limit=100')).body;
    expect(JSON.stringify(audit)).toMatch(/chat-operator/);
    op.close();
  });

  it('resolves a bot by its name among 1500 registered bots', async () => {
    // Registered straight into the registry (no workflows needed to read a bot's status): 1500 of them.
    const prefix = `many-${Math.random().toString(36).slice(2, 6)}`;
    const rows = Array.from({ length: 1500 }, (_, i) => ({
      id: `${prefix}-${String(i).padStart(4, '0')}`,
      name: i === 1234 ? 'Quarterly revenue forecaster' : `Worker number ${i}`,
      description: '',
      role: 'general',
      blueprint: 'sleeper.mjs',
      image: null,
      args: '[]',
      env: '{}',
      resources: '{}',
      heal_policy: '{}',
      heartbeat_interval_seconds: null,
      status: 'registered' as const,
      desired_state: 'stopped' as const,
      status_reason: null,
      current_instance_id: null,
    }));
    await t.platform.registry.db.insertInto('bots').values(rows).execute();
    try {
      const op = await as('operator');
      const answer = await op.ask('status of the quarterly revenue forecaster');
      expect(answer.text).toBe(`${prefix}-1234 is registered.`);
      // The last of them too, past any page of the list.
      expect((await op.ask(`status of ${prefix}-1499`)).text).toBe(`${prefix}-1499 is registered.`);
      op.close();
    } finally {
      await t.platform.registry.db.deleteFrom('bots').where('id', 'like', `${prefix}-%`).execute();
    }
  });

  it('asks which bot when several fit, and takes the answer by number or name', async () => {
    const op = await as('operator');
    const question = await op.ask('status of weather');
    expect(question.data.choices).toEqual(['weather-v1', 'weather-v2']);
    expect(question.text).toMatch(/Several bots fit "weather": 1\. weather-v1 \(Weather reporter\); 2\. weather-v2/);
    expect((await op.ask('the second one')).text).toMatch(/^weather-v2 is registered/);
    await op.ask('status of weather');
    expect((await op.ask('weather-v1')).text).toMatch(/^weather-v1 is registered/);
    op.close();
  });

  it('asks before deleting, does nothing on no, and deletes on yes', async () => {
    const op = await as('operator');
    const ask = await op.ask('delete echo');
    expect(ask).toMatchObject({ type: 'confirm', action: { action: 'delete', bot_id: 'echo-one' } });
    expect(ask.text).toMatch(/^Delete echo-one \(Echo\)\? Say yes/);
    expect((await op.ask('no')).text).toMatch(/Cancelled: echo-one was not deleted/);
    expect((await t.request('GET', '/api/v1/bots/echo-one')).status).toBe(200);
    expect((await op.ask({ type: 'confirm' })).text).toBe('There is nothing waiting for a yes.');
    await op.ask('remove the echo bot');
    expect((await op.ask({ type: 'confirm' })).text).toBe('Deleted echo-one.');
    expect((await t.request('GET', '/api/v1/bots/echo-one')).status).toBe(404);
    op.close();
  });

  it('tells the latest deployment of a bot, and rolls it back once confirmed', async () => {
    const op = await as('operator');
    expect((await op.ask('deploy status of weather-v1')).text).toBe('weather-v1 has no deployment yet.');
    const gate = { min_healthy_seconds: 1, progress_deadline_seconds: 30 };
    for (const build of ['2', '3']) {
      const d = await t.request('POST', '/api/v1/deployments', {
        bot_id: 'weather-v1',
        ref: `build-${build}`,
        args: ['--build', build],
        health_gate: gate,
      });
      expect(d.status).toBe(202);
      expect((await t.request('GET', `/api/v1/deployments/${d.body.id}?wait=60`)).body.phase).toBe('succeeded');
    }
    const status = await op.ask("what's the deployment status of weather-v1?");
    expect(status.text).toMatch(
      /^The latest deployment of weather-v1 \(build-3, .*\) is succeeded: revision 3 was up for 1 s: healthy\.$/,
    );

    const viewer = await as('viewer');
    expect((await viewer.ask('deploy status of weather-v1')).text).toMatch(/is succeeded/);
    expect((await viewer.ask('roll back weather-v1')).text).toMatch(
      /You may not roll bots back: that needs the deployments:create permission/,
    );
    viewer.close();

    const ask = await op.ask('roll back weather-v1 to the previous version');
    expect(ask).toMatchObject({ type: 'confirm', action: { action: 'rollback', bot_id: 'weather-v1' } });
    expect(ask.text).toMatch(/^Roll back weather-v1 \(Weather reporter\)\? Say yes/);
    expect((await op.ask('no')).text).toMatch(/Cancelled: weather-v1 was not rolled back/);
    await op.ask('roll back weather-v1');
    const done = await op.ask('yes');
    expect(done.text).toMatch(/^Rolling bot weather-v1 back to revision 2 \(as revision 4\)/);
    const back = (await t.request('GET', '/api/v1/deployments?bot_id=weather-v1&limit=1')).body.deployments[0];
    expect((await t.request('GET', `/api/v1/deployments/${back.id}?wait=60`)).body.phase).toBe('succeeded');
    expect((await t.request('GET', '/api/v1/bots/weather-v1')).body).toMatchObject({
      revision: 4,
      args: ['--build', '2'],
    });
    await t.request('POST', '/api/v1/bots/weather-v1/stop');
    op.close();
  });

  it('refuses what the role may not do, with the reason, and nothing happens; help lists only what the role may do', async () => {
    const viewer = await as('viewer');
    const refused = await viewer.ask('stop the analytics bot');
    expect(refused.data).toMatchObject({ refused: true, needs: 'bots:operate' });
    expect(refused.text).toMatch(/You may not stop bots: that needs the bots:operate permission.*Nothing was done/);
    expect((await t.request('GET', '/api/v1/bots/analytics-bot-v1')).body).toMatchObject({
      status: 'running',
      desired_state: 'running',
    });
    expect((await viewer.ask('help')).data.commands).toEqual([
      'status',
      'list',
      'doing',
      'logs',
      'incidents',
      'deploy_status',
    ]);
    expect((await viewer.ask('logs of analytics')).type).toBe('reply');
    viewer.close();

    const user = await as('user');
    expect((await user.ask('help')).data.commands).toEqual(['status', 'list', 'doing']);
    expect((await user.ask('incidents')).data).toMatchObject({ refused: true, needs: 'incidents:read' });
    expect((await user.ask('delete analytics')).data).toMatchObject({ refused: true, needs: 'bots:delete' });
    user.close();
    const op = await as('operator');
    expect((await op.ask('help')).data.commands).toEqual([
      'start',
      'stop',
      'restart',
      'delete',
      'status',
      'list',
      'doing',
      'logs',
      'incidents',
      'deploy_status',
      'rollback',
    ]);
    op.close();
  });

  it('delivers status changes and incidents of subscribed bots, in order, after a REST start', async () => {
    const watcher = await as('viewer');
    const other = await as('user');
    await watcher.ask({ type: 'subscribe', bots: ['weather-v1'] });
    await other.ask({ type: 'subscribe', bots: '*' });
    const from = watcher.frames.length;
    await t.request('POST', '/api/v1/bots/weather-v1/start');
    const running = await waitForBot(t, 'weather-v1', 'running', (b) => b.status === 'running');
    process.kill(running.pid, 'SIGKILL');
    await waitForBot(t, 'weather-v1', 'running again', (b) => b.status === 'running' && b.pid !== running.pid);
    await t.request('POST', '/api/v1/bots/analytics-bot-v1/stop');
    await waitForBot(t, 'analytics-bot-v1', 'stopped', (b) => b.status === 'stopped');
    await waitFor(async () => watcher.frames.filter((f) => f.type === 'event').length >= 6, 'six events', 15_000);
    const events = watcher.frames.slice(from).filter((f) => f.type === 'event');
    expect(events.every((e) => e.bot_id === 'weather-v1')).toBe(true);
    expect(
      events.map((e) => (e.kind === 'status' ? e.status : `incident:${(e.incident as { kind: string }).kind}`)),
    ).toEqual(['deploying', 'running', 'incident:process_exited', 'healing', 'deploying', 'running']);
    const seqs = events.map((e) => e.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // "*" sees every bot, this one's stop included.
    await waitFor(
      async () =>
        other.frames.some((f) => f.type === 'event' && f.bot_id === 'analytics-bot-v1' && f.status === 'stopped'),
      'the stop, for "*"',
    );
    await t.request('POST', '/api/v1/bots/weather-v1/stop');
    watcher.close();
    other.close();
  });

  it("pushes the running bots' figures at the sample interval to those who asked, for the bots they subscribed to", async () => {
    for (const id of ['figures-a', 'figures-b'])
      await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' });
    const one = await as('viewer');
    const all = await as('user');
    const plain = await as('operator');
    const asked = await one.ask({ type: 'subscribe', bots: ['figures-a'], figures: true });
    expect(asked.data).toMatchObject({ subscribed: ['figures-a'], figures: true });
    expect(asked.text).toMatch(/figures come at each sample interval/);
    await all.ask({ type: 'subscribe', bots: '*', figures: true });
    await plain.ask({ type: 'subscribe', bots: '*' });
    const bad = await one.ask({ type: 'subscribe', bots: '*', figures: 'yes' });
    expect(bad).toMatchObject({ type: 'error' });
    expect(bad.text).toMatch(/"figures" is true or false/);
    for (const id of ['figures-a', 'figures-b']) await t.request('POST', `/api/v1/bots/${id}/start`);
    const bots = await Promise.all(
      ['figures-a', 'figures-b'].map((id) => waitForBot(t, id, 'running', (b) => b.status === 'running' && b.pid)),
    );
    const figures = (c: Client) =>
      c.frames.filter((f) => f.type === 'figures') as unknown as Array<{ at: string; bots: any[] }>;
    const pushed = (c: Client, id: string) => figures(c).flatMap((f) => f.bots.filter((b) => b.bot_id === id));
    await waitFor(async () => pushed(one, 'figures-a').length >= 3, 'three pushes of figures-a', 15_000);
    await waitFor(async () => pushed(all, 'figures-b').length >= 1, 'figures-b for "*"', 15_000);
    // Only what was subscribed to, from the current instance's samples, each sample once.
    expect(figures(one).every((f) => f.bots.every((b) => b.bot_id === 'figures-a'))).toBe(true);
    const echo = pushed(one, 'figures-a');
    for (const b of echo) {
      expect(b.instance_id).toBe(bots[0]!.instance_id);
      expect(b.memory_usage_mb).toBeGreaterThan(0);
      expect(b.cpu_load).toBeGreaterThanOrEqual(0);
      expect(Number.isNaN(Date.parse(b.sampled_at))).toBe(false);
    }
    expect(new Set(echo.map((b) => b.sampled_at)).size).toBe(echo.length);
    // The same figures REST gives.
    const rest = (await t.request('GET', '/api/v1/bots/figures-a')).body;
    expect(rest.instance_id).toBe(echo.at(-1).instance_id);
    expect(figures(plain)).toEqual([]);
    // Unsubscribed: no more pushes.
    await one.ask({ type: 'unsubscribe' });
    const after = figures(one).length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(figures(one).length).toBe(after);
    for (const id of ['figures-a', 'figures-b']) await t.request('POST', `/api/v1/bots/${id}/stop`);
    for (const c of [one, all, plain]) c.close();
  });

  it('answers hostile frames with an error frame or a close, and carries on', async () => {
    const c = await as('operator');
    expect((await c.ask('{"type": "command", "text": ')).text).toMatch(/not valid JSON/);
    expect((await c.ask({ type: 'dance' })).text).toMatch(/Unknown message type "dance"/);
    expect((await c.ask({ type: 'subscribe', bots: ['../etc'] })).text).toMatch(/"subscribe" needs "bots"/);
    expect((await c.ask({ type: 'command', text: 'x'.repeat(5000) })).text).toMatch(/at most 1000 characters/);
    expect((await c.ask('[1,2,3]')).type).toBe('reply'); // plain text that is not a command
    expect((await c.ask({ type: 'audio_end' })).text).toMatch(/audio_end without audio_start/);
    const from = c.frames.length;
    c.ws.send(Buffer.alloc(3200));
    expect((await c.next(from, ['error'])).text).toMatch(/Binary frames are audio/);
    expect((await c.ask({ type: 'audio_start', sample_rate: 16000 })).text).toMatch(
      /Voice input is switched off on this platform \(ENABLE_VOICE_INPUT=false\)/,
    );
    expect((await c.ask({ type: 'ping' }, ['pong'])).type).toBe('pong');

    // A flood: the first excess is told, a sustained one is closed (1008).
    const flood = await as('operator');
    for (let i = 0; i < 400; i++) flood.ws.send('{"type":"ping"}');
    await waitFor(async () => flood.closed, 'the flooder closed', 10_000);
    expect(flood.closed!.code).toBe(1008);
    expect(flood.frames.some((f) => f.type === 'error' && /Too many messages/.test(f.text ?? ''))).toBe(true);

    // Over WS_MAX_MESSAGE_BYTES: closed with 1009.
    const big = await as('operator');
    big.ws.send('x'.repeat(2 * 1024 * 1024));
    await waitFor(async () => big.closed, 'the big sender closed', 10_000);
    expect(big.closed!.code).toBe(1009);

    // Everyone else carries on.
    expect((await c.ask('status of analytics')).text).toMatch(/^analytics-bot-v1 is/);
    expect((await t.anonymous('GET', '/health')).status).toBe(200);
    c.close();
  });

  it('asks for a fresh token before the old one ends, takes it, and closes with 4401 a socket whose token ended', async () => {
    // Tokens that end in 3 s, signed as the platform signs them.
    // The subject is the user's immutable id, not the name.
    const { ver, sub } = decodeJwt(tokens.operator!) as { ver: number; sub: string };
    const shortLived = new TokenService({
      secret: SECRET,
      algorithm: 'HS256',
      accessTtlSeconds: 3,
      refreshTtlSeconds: 60,
    });
    const short = async () => (await shortLived.issue('access', sub, ver)).token;

    const c = await Client.open(url('chat-operator', await short()));
    const warning = await c.next(0, ['token_expiring'], 5_000);
    expect(warning.text).toMatch(/expires at .*"type":"token"/);
    expect(Date.parse(warning.expires_at as string) - Date.now()).toBeLessThan(4_000);
    expect((await c.ask({ type: 'token', token: 'not-a-token' })).text).toMatch(
      /That token was not taken: it is not an access token/,
    );
    expect((await c.ask({ type: 'token', token: tokens.viewer })).text).toMatch(
      /belongs to chat-viewer, not chat-operator/,
    );
    expect((await c.ask({ type: 'token' })).text).toMatch(/"token" needs "token"/);
    const renewed = await c.ask({ type: 'token', token: tokens.operator });
    expect(renewed).toMatchObject({ type: 'reply', data: { token_renewed: true } });
    expect(Date.parse(renewed.data.expires_at) - Date.now()).toBeGreaterThan(60_000);

    const lapsing = await Client.open(url('chat-operator', await short()));
    expect((await lapsing.ask({ type: 'subscribe', bots: '*' })).type).toBe('reply');
    await waitFor(async () => lapsing.closed, 'the socket whose token ended closed', 10_000);
    expect(lapsing.closed).toEqual({ code: 4401, reason: expect.stringMatching(/access token expired/) });
    // The renewed socket outlived its first token and still acts with the new one.
    expect(c.closed).toBeNull();
    expect((await c.ask('status of analytics')).text).toMatch(/^analytics-bot-v1 is/);
    c.close();
  });
});

describe('the command socket switched off', () => {
  it('refuses the upgrade with ENABLE_CONVERSATIONAL_AI=false', async () => {
    const t = await startTestPlatform('pglite', { ENABLE_CONVERSATIONAL_AI: 'false' });
    try {
      const username = 'chat-off';
      const password = 'Another long passphrase 77!';
      await t.request('POST', '/api/v1/users', { username, password, role: 'operator' });
      const token = (await t.anonymous('POST', '/api/v1/auth/login', { username, password })).body.access_token;
      expect(await refusal(Client.open(`${t.url.replace('http', 'ws')}/ws/command/${username}?token=${token}`))).toBe(
        404,
      );
    } finally {
      await t.close();
    }
  });
});
