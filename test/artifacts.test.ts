import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, waitForBot, type TestPlatform } from './helpers/platform.js';
import { rawEntry, rawHeader, rawTar, tarOf } from './helpers/tarball.js';

const BOT = `process.on('SIGTERM', () => process.exit(0));
import { greeting } from '../lib/greeting.mjs';
console.log(greeting(), process.argv.slice(2).join(' '));
setInterval(() => {}, 1000);
`;

describe('artifacts: CI uploads a build, the worker unpacks it once and runs it', () => {
  let t: TestPlatform;
  let ci: Record<string, string>;
  beforeAll(async () => {
    t = await startTestPlatform('postgres', { ARTIFACT_MAX_MB: '2', ARTIFACT_MAX_FILES: '1000' });
    const minted = await t.request('POST', '/api/v1/api-keys', { name: 'ci-artifacts', preset: 'deployer' });
    ci = { 'X-API-Key': minted.body.key };
  });
  afterAll(async () => {
    await t?.close();
  });

  const register = async (id: string) =>
    expect((await t.request('POST', '/api/v1/bots', { id, name: id, blueprint: 'sleeper.mjs' })).status).toBe(201);
  const put = async (id: string, body: Buffer, headers: Record<string, string>) => {
    const send = () =>
      fetch(`${t.url}/api/v1/bots/${id}/artifacts`, { method: 'PUT', body, headers: { ...ci, ...headers } });
    // A refused upload is answered before it is all sent, and the server closes that connection: a pooled one may be stale.
    const r = await send().catch(send);
    return { status: r.status, body: (await r.json()) as any };
  };
  const gz = (tar: Buffer) => zlib.gzipSync(tar);
  const stored = async () =>
    Number(
      (
        await t.platform.registry.db
          .selectFrom('artifacts')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const outcome = async (id: string) =>
    (await t.request('GET', `/api/v1/deployments/${id}?wait=60`, undefined, ci)).body;

  it('a .tar.gz is stored content-addressed (201, then 200), deployed with an entrypoint, unpacked once and run from there', async () => {
    const id = t.uniqueId('artifact');
    await register(id);
    const tar = await tarOf([
      { name: 'app/', type: 'directory' },
      { name: 'app/bot.mjs', content: BOT },
      { name: 'lib/greeting.mjs', content: "export const greeting = () => 'hello from the artifact';\n" },
      { name: 'run.sh', content: '#!/bin/sh\nexec node app/bot.mjs\n', mode: 0o755 },
    ]);
    const first = await put(id, gz(tar), { 'Content-Type': 'application/gzip' });
    expect(first.status).toBe(201);
    expect(first.body.artifact).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.body.files.sort()).toEqual(['app/bot.mjs', 'lib/greeting.mjs', 'run.sh']);
    const again = await put(id, gz(tar), { 'Content-Type': 'application/gzip' });
    expect(again.status).toBe(200);
    expect(again.body.artifact).toBe(first.body.artifact);

    const d = await t.request(
      'POST',
      '/api/v1/deployments',
      {
        bot_id: id,
        artifact: first.body.artifact,
        entrypoint: './app/bot.mjs',
        args: ['build', '7'],
        health_gate: { min_healthy_seconds: 1, progress_deadline_seconds: 20 },
      },
      ci,
    );
    expect(d.status).toBe(202);
    expect(d.body.changes.sort()).toEqual(['args', 'artifact', 'entrypoint']);
    expect((await outcome(d.body.id)).phase).toBe('succeeded');
    const bot = await waitForBot(t, id, 'running', (b) => b.status === 'running');
    expect(bot).toMatchObject({ blueprint: null, revision: 2 });
    const hex = first.body.artifact.slice('sha256:'.length);
    const cmdline = readFileSync(`/proc/${bot.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain(path.join(t.config.paths.artifactsDir, hex, 'app', 'bot.mjs'));
    const logs = await t.request('GET', `/api/v1/bots/${id}/logs?tail=20`);
    expect(logs.body.lines.join('\n')).toContain('hello from the artifact build 7');
    expect(await fs.readdir(t.config.paths.artifactsDir)).toEqual([hex]);
    const revisions = (await t.request('GET', `/api/v1/bots/${id}/revisions`, undefined, ci)).body.revisions;
    expect(revisions[0].spec).toMatchObject({
      artifact: first.body.artifact,
      entrypoint: 'app/bot.mjs',
      blueprint: null,
    });

    // An entrypoint that is not in it, or not a file, is refused before anything runs.
    for (const [entrypoint, words] of [
      ['app/missing.mjs', /is not in artifact/],
      ['app', /is a directory/],
      ['../outside.sh', /outside the artifact/],
    ] as const) {
      const r = await t.request(
        'POST',
        '/api/v1/deployments',
        { bot_id: id, artifact: first.body.artifact, entrypoint },
        ci,
      );
      expect(r.status, entrypoint).toBe(422);
      expect(r.body.detail).toMatch(words);
    }
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('a single file comes with its name in X-Filename', async () => {
    const id = t.uniqueId('single');
    await register(id);
    const r = await put(id, Buffer.from('echo single file build\nwhile true; do sleep 1; done\n'), {
      'Content-Type': 'application/octet-stream',
      'X-Filename': 'solo.sh',
    });
    expect(r.status).toBe(201);
    expect(r.body.files).toEqual(['solo.sh']);
    const d = await t.request(
      'POST',
      '/api/v1/deployments',
      {
        bot_id: id,
        artifact: r.body.artifact,
        entrypoint: 'solo.sh',
        health_gate: { min_healthy_seconds: 1, progress_deadline_seconds: 20 },
      },
      ci,
    );
    expect((await outcome(d.body.id)).phase).toBe('succeeded');
    const missing = await put(id, Buffer.from('x'), { 'Content-Type': 'application/octet-stream' });
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toContain('X-Filename');
    const bad = await put(id, Buffer.from('x'), {
      'Content-Type': 'application/octet-stream',
      'X-Filename': '../x.sh',
    });
    expect(bad.status).toBe(422);
    await t.request('POST', `/api/v1/bots/${id}/stop`);
  });

  it('hostile uploads are refused with the entry named, and nothing is stored or written outside the cache', async () => {
    const id = t.uniqueId('hostile');
    await register(id);
    const before = await stored();
    const cacheBefore = await fs.readdir(t.config.paths.artifactsDir).catch(() => []);
    const outside = path.join(t.root, `escaped-${id}.sh`);
    const many = await tarOf(Array.from({ length: 10_000 }, (_, i) => ({ name: `f/${i}.txt`, content: 'x' })));
    const bomb = zlib.gzipSync(
      Buffer.concat([rawHeader('zeros.bin', '0', 60 << 20), Buffer.alloc(60 << 20), Buffer.alloc(1024)]),
    );
    const good = gz(await tarOf([{ name: 'ok.sh', content: 'echo ok\n' }]));
    const cases: Array<[string, Buffer, string, number, RegExp]> = [
      [
        'path traversal',
        gz(rawTar(rawEntry(`../escaped-${id}.sh`, '0', Buffer.from('x')))),
        'application/gzip',
        422,
        /\.\./,
      ],
      ['absolute path', gz(rawTar(rawEntry(outside, '0', Buffer.from('x')))), 'application/gzip', 422, /escaped/],
      [
        'symlink out',
        gz(rawTar(rawEntry('link', '2', Buffer.alloc(0), '/etc/passwd'))),
        'application/gzip',
        422,
        /link/,
      ],
      [
        'hard link out',
        gz(rawTar(rawEntry('hard', '1', Buffer.alloc(0), '../../etc/passwd'))),
        'application/gzip',
        422,
        /hard/,
      ],
      ['device', gz(rawTar(rawEntry('dev/null', '3'))), 'application/gzip', 422, /dev\/null/],
      ['fifo', gz(rawTar(rawEntry('pipe', '6'))), 'application/gzip', 422, /pipe/],
      ['10 000 files', gz(many), 'application/gzip', 422, /1000/],
      ['gzip bomb', bomb, 'application/gzip', 422, /zeros\.bin|expan/],
      ['truncated gzip', good.subarray(0, Math.floor(good.length / 2)), 'application/gzip', 422, /truncated|ends/i],
      ['not gzip', Buffer.from('PK\x03\x04 a zip file'), 'application/gzip', 422, /gzip/],
      ['wrong content type', good, 'text/plain', 415, /application\/gzip/],
      ['over the limit', randomBytes(3 << 20), 'application/gzip', 413, /ARTIFACT_MAX_MB/],
    ];
    for (const [what, body, type, status, words] of cases) {
      const r = await put(id, body, { 'Content-Type': type });
      expect(r.status, what).toBe(status);
      expect(r.body.detail, what).toMatch(words);
      expect(r.body.detail, what).toContain('Nothing was stored');
    }
    expect(await stored()).toBe(before);
    await expect(fs.access(outside)).rejects.toThrow();
    expect(await fs.readdir(t.config.paths.artifactsDir).catch(() => [])).toEqual(cacheBefore);
  });

  it('artifacts no recent revision uses are pruned', async () => {
    const id = t.uniqueId('pruned');
    await register(id);
    const upload = async (n: number) =>
      (
        await put(
          id,
          gz(await tarOf([{ name: 'bot.sh', content: `echo build ${n}\nwhile true; do sleep 1; done\n` }])),
          {
            'Content-Type': 'application/gzip',
          },
        )
      ).body.artifact as string;
    const old = await upload(1);
    // Older than the grace an upload gets to be deployed, and named by no revision.
    await t.platform.registry.db
      .updateTable('artifacts')
      .set({ created_at: new Date(Date.now() - 2 * 3600_000) })
      .where('digest', '=', old)
      .execute();
    const fresh = await upload(2);
    const left = await t.platform.registry.db.selectFrom('artifacts').select('digest').execute();
    expect(left.map((r) => r.digest)).toContain(fresh);
    expect(left.map((r) => r.digest)).not.toContain(old);
  });
});
