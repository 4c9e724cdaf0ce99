import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ArtifactError,
  artifactKindOf,
  inspectArtifact,
  sha256Of,
  unpackArtifact,
  type ArtifactErrorCode,
  type ArtifactLimits,
  type ArtifactUpload,
} from '../../runtime/artifact-archive.js';
import { rawEntry, rawHeader, rawTar, tarOf, type Spec } from '../helpers/tarball.js';

/** Uploads are hostile: every archive here is built in the test, the bad ones byte by byte where tar-stream would not write them. */

const limits: ArtifactLimits = { maxFiles: 1000, maxBytes: 50 * 1024 * 1024, maxExpansion: 10 };

const targz = (tar: Buffer): ArtifactUpload => ({ bytes: zlib.gzipSync(tar), kind: 'tar.gz' });
const upload = async (specs: Spec[]) => targz(await tarOf(specs));

async function refusal(promise: Promise<unknown>): Promise<ArtifactError> {
  const outcome = await promise.then(
    () => new Error('the upload was accepted'),
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(ArtifactError);
  return outcome as ArtifactError;
}

async function expectRefused(
  artifact: ArtifactUpload,
  code: ArtifactErrorCode,
  entry: string | null,
  within: ArtifactLimits = limits,
): Promise<ArtifactError> {
  const err = await refusal(inspectArtifact(artifact, within));
  expect(err.code).toBe(code);
  expect(err.entry).toBe(entry);
  if (entry !== null) expect(err.message).toContain(JSON.stringify(entry));
  return err;
}

const bot = { name: 'bot.py', content: 'print("hi")\n' };

describe('inspectArtifact: a good build', () => {
  it('lists nested entries normalised, skips the root, keeps the x bit and never more', async () => {
    const manifest = await inspectArtifact(
      await upload([
        { name: './', type: 'directory' },
        { name: './bin/', type: 'directory', mode: 0o700 },
        { name: './bin/run.sh', mode: 0o4755, content: '#!/bin/sh\necho hi\n' },
        { name: './lib/a/b.txt', mode: 0o666, content: 'data' },
        { name: 'current', type: 'symlink', linkname: 'bin/run.sh' },
        { name: 'lib/a/up', type: 'symlink', linkname: '../../bin' },
        { name: 'self', type: 'symlink', linkname: './' },
      ]),
      limits,
    );
    expect(manifest).toEqual({
      files: [
        { path: 'bin', type: 'directory', mode: 0o755, size: 0 },
        { path: 'bin/run.sh', type: 'file', mode: 0o755, size: 18 },
        { path: 'lib/a/b.txt', type: 'file', mode: 0o644, size: 4 },
        { path: 'current', type: 'symlink', mode: 0o777, size: 0, linkTarget: 'bin/run.sh' },
        { path: 'lib/a/up', type: 'symlink', mode: 0o777, size: 0, linkTarget: '../../bin' },
        { path: 'self', type: 'symlink', mode: 0o777, size: 0, linkTarget: '.' },
      ],
      unpackedBytes: 22,
    });
  });

  it('reads long names from pax headers and from GNU ././@LongLink', async () => {
    const long = `deep/${'x'.repeat(150)}.py`;
    const viaPax = await inspectArtifact(await upload([{ name: long, content: 'x' }]), limits);
    expect(viaPax.files.map((entry) => entry.path)).toEqual([long]);

    const target = `${'t'.repeat(120)}.py`;
    const gnu = rawTar(
      rawEntry('././@LongLink', 'L', Buffer.from(`${long}\0`), '', true),
      rawEntry(long.slice(0, 100), '0', Buffer.from('x'), '', true),
      rawEntry('././@LongLink', 'K', Buffer.from(`${target}\0`), '', true),
      rawEntry('link', '2', Buffer.alloc(0), target.slice(0, 100), true),
    );
    const viaGnu = await inspectArtifact(targz(gnu), limits);
    expect(viaGnu.files.map((entry) => [entry.path, entry.linkTarget])).toEqual([
      [long, undefined],
      ['link', target],
    ]);
  });

  it('refuses a path too long to unpack', async () => {
    const long = Array.from({ length: 5 }, () => 'd'.repeat(250)).join('/');
    const err = await refusal(inspectArtifact(await upload([{ name: long, content: 'x' }]), limits));
    expect(err.code).toBe('bad_name');
    // A hostile name may be megabytes long: the error carries the start of it, the message less.
    expect(err.entry).toBe(long.slice(0, 1024));
    expect(err.message).toContain(`entry "${long.slice(0, 200)}…" is longer than 1024 bytes`);
  });

  it('tells the upload kind from its Content-Type', () => {
    expect(artifactKindOf('application/gzip')).toBe('tar.gz');
    expect(artifactKindOf('Application/X-Gzip; charset=binary')).toBe('tar.gz');
    expect(artifactKindOf('application/octet-stream')).toBe('file');
    expect(artifactKindOf('application/x-tar+gzip')).toBeNull();
    expect(artifactKindOf('text/plain')).toBeNull();
  });

  it('names an upload by its digest', () => {
    expect(sha256Of(Buffer.from('abc'))).toBe(
      'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('inspectArtifact: refusals name the entry and say what to do', () => {
  const cases: Array<[string, () => Promise<ArtifactUpload>, ArtifactErrorCode, string]> = [
    ['a leading ..', () => upload([bot, { name: '../x.sh', content: 'x' }]), 'path_traversal', '../x.sh'],
    ['a .. that climbs out', () => upload([bot, { name: 'a/../../x', content: 'x' }]), 'path_traversal', 'a/../../x'],
    ['a .. even one that stays in', () => upload([{ name: 'a/../x', content: 'x' }]), 'path_traversal', 'a/../x'],
    [
      'a .. in a pax path',
      () => upload([{ name: `../${'y'.repeat(120)}`, content: 'x' }]),
      'path_traversal',
      `../${'y'.repeat(120)}`,
    ],
    [
      'an absolute path',
      () => upload([bot, { name: '/etc/cron.d/x', content: 'x' }]),
      'absolute_path',
      '/etc/cron.d/x',
    ],
    ['a drive letter', () => upload([bot, { name: 'C:/x.exe', content: 'x' }]), 'absolute_path', 'C:/x.exe'],
    ['a backslash', () => upload([bot, { name: 'a\\..\\x', content: 'x' }]), 'bad_name', 'a\\..\\x'],
    ['a control character', () => upload([bot, { name: 'a\u0007b', content: 'x' }]), 'bad_name', 'a\u0007b'],
    [
      'a symlink to an absolute path',
      () => upload([bot, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }]),
      'link_outside',
      'link',
    ],
    [
      'a symlink that climbs out',
      () => upload([bot, { name: 'a/link', type: 'symlink', linkname: '../../x' }]),
      'link_outside',
      'a/link',
    ],
    [
      'a symlink that climbs through another link',
      () =>
        upload([bot, { name: 'p', type: 'symlink', linkname: '.' }, { name: 'q', type: 'symlink', linkname: 'p/..' }]),
      'link_outside',
      'q',
    ],
    [
      'a GNU long link target outside',
      async () =>
        targz(
          rawTar(
            rawEntry('bot.py', '0', Buffer.from('x')),
            rawEntry('././@LongLink', 'K', Buffer.from(`/${'e'.repeat(120)}\0`), '', true),
            rawEntry('link', '2', Buffer.alloc(0), 'harmless', true),
          ),
        ),
      'link_outside',
      'link',
    ],
    ['a hard link', () => upload([bot, { name: 'hard', type: 'link', linkname: 'bot.py' }]), 'hard_link', 'hard'],
    ['a character device', () => upload([bot, { name: 'tty', type: 'character-device' }]), 'special_file', 'tty'],
    ['a block device', () => upload([bot, { name: 'sda', type: 'block-device' }]), 'special_file', 'sda'],
    ['a FIFO', () => upload([bot, { name: 'pipe', type: 'fifo' }]), 'special_file', 'pipe'],
    [
      'an unknown type flag',
      async () => targz(rawTar(rawEntry('bot.py', '0', Buffer.from('x')), rawEntry('sparse', 'S'))),
      'special_file',
      'sparse',
    ],
    ['the same path twice', () => upload([bot, { name: './bot.py', content: 'again' }]), 'duplicate', './bot.py'],
    [
      'a directory replaced by a link',
      () => upload([{ name: 'a/', type: 'directory' }, bot, { name: 'a', type: 'symlink', linkname: 'bot.py' }]),
      'duplicate',
      'a',
    ],
    [
      'a file under a file',
      () =>
        upload([
          { name: 'a', content: 'x' },
          { name: 'a/b', content: 'y' },
        ]),
      'duplicate',
      'a/b',
    ],
    [
      'a file written through a link to the root',
      () =>
        upload([
          { name: 'a', type: 'symlink', linkname: '.' },
          { name: 'a/x', content: 'x' },
        ]),
      'link_outside',
      'a/x',
    ],
    [
      'a file written through a link that looks harmless',
      () => upload([bot, { name: 'lib', type: 'symlink', linkname: 'bot.py' }, { name: 'lib/x.py', content: 'x' }]),
      'link_outside',
      'lib/x.py',
    ],
    [
      'a directory that carries data',
      async () => targz(rawTar(rawEntry('bot.py', '0', Buffer.from('x')), rawEntry('d/', '5', Buffer.alloc(600, 1)))),
      'not_tar',
      'd/',
    ],
  ];

  it.each(cases)('refuses %s', async (_label, build, code, entry) => {
    await expectRefused(await build(), code, entry);
  });

  it('refuses hard links however harmless, and says to pack the file itself', async () => {
    const err = await expectRefused(
      await upload([bot, { name: 'hard', type: 'link', linkname: 'bot.py' }]),
      'hard_link',
      'hard',
    );
    expect(err.message).toContain('pack the file itself, not a hard link');
  });

  it('says what to do about a path that climbs out', async () => {
    const err = await expectRefused(
      await upload([{ name: '../evil.sh', content: 'x' }]),
      'path_traversal',
      '../evil.sh',
    );
    expect(err.message).toBe(
      'entry "../evil.sh" climbs out of the artifact with ".."; pack paths relative to the build\'s root',
    );
  });

  it('refuses an archive with folders but no file', async () => {
    await expectRefused(await upload([{ name: 'a/', type: 'directory' }]), 'empty', null);
    await expectRefused(targz(Buffer.alloc(0)), 'empty', null);
  });

  it('stops counting at maxFiles + 1 of 10 000 entries', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => rawEntry(`f${i}.txt`, '0'));
    const started = performance.now();
    const err = await expectRefused(targz(rawTar(...entries)), 'too_many_files', 'f1000.txt');
    expect(err.message).toContain('more than 1000 entries');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('refuses content over maxBytes, and content that expanded more than maxExpansion times', async () => {
    await expectRefused(await upload([{ name: 'big.bin', content: Buffer.alloc(2000, 7) }]), 'expansion', 'big.bin', {
      ...limits,
      maxBytes: 1000,
    });
    // 1 MB of one byte gzips to about 1 KB: a thousand times.
    await expectRefused(
      await upload([{ name: 'ratio.bin', content: Buffer.alloc(1 << 20, 7) }]),
      'expansion',
      'ratio.bin',
    );
  });
});

describe('inspectArtifact: the gzip itself', () => {
  const megabyte = Buffer.alloc(1 << 20);
  let zeros: Buffer;
  let tarBomb: Buffer;

  /** 200 MB of zeros, gzipped a megabyte at a time so the test never holds them. */
  async function gzipOfZeros(header: Buffer | null): Promise<Buffer> {
    const gzip = zlib.createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    const collected = (async () => {
      for await (const chunk of gzip) chunks.push(chunk as Buffer);
    })();
    if (header) gzip.write(header);
    for (let i = 0; i < 200; i++) {
      if (!gzip.write(megabyte)) await new Promise((resolve) => gzip.once('drain', resolve));
    }
    gzip.end();
    await collected;
    return Buffer.concat(chunks);
  }

  beforeAll(async () => {
    [zeros, tarBomb] = await Promise.all([gzipOfZeros(null), gzipOfZeros(rawHeader('data.bin', '0', 200 << 20))]);
  });

  it('refuses a gzip bomb quickly, at the expansion cap', async () => {
    const started = performance.now();
    const err = await expectRefused({ bytes: zeros, kind: 'tar.gz' }, 'expansion', null);
    expect(err.message).toContain('ship a smaller build');
    await expectRefused({ bytes: tarBomb, kind: 'tar.gz' }, 'expansion', 'data.bin');
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('never holds much more than maxBytes of a bomb in memory', async () => {
    const roomy = { ...limits, maxExpansion: 1_000_000 };
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
    try {
      await expectRefused({ bytes: zeros, kind: 'tar.gz' }, 'expansion', null, roomy);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  });

  it('refuses a gzip cut in half, and a tar cut in the middle of an entry', async () => {
    // Random data does not compress, so no cut archive here is refused for its expansion first.
    const whole = (await upload([bot, { name: 'data.bin', content: randomBytes(40_000) }])).bytes;
    await expectRefused({ bytes: whole.subarray(0, whole.length >> 1), kind: 'tar.gz' }, 'truncated', null);

    const tar = await tarOf([bot, { name: 'data.bin', content: randomBytes(4000) }]);
    await expectRefused(targz(tar.subarray(0, 2048)), 'truncated', 'data.bin');
    // Cut inside the second header: the last entry read is named.
    await expectRefused(targz(tar.subarray(0, 1024 + 100)), 'truncated', 'bot.py');
  });

  it('refuses what is not gzip, and a gzip that holds no tar', async () => {
    await expectRefused({ bytes: Buffer.from('PK\u0003\u0004 a zip'), kind: 'tar.gz' }, 'not_gzip', null);
    await expectRefused({ bytes: Buffer.alloc(0), kind: 'tar.gz' }, 'not_gzip', null);
    await expectRefused(targz(Buffer.from('#!/bin/sh\necho not a tar\n'.repeat(100))), 'not_tar', null);
    await expectRefused(targz(Buffer.from('tiny')), 'not_tar', null);
    const junkAfter = Buffer.concat([rawEntry('bot.py', '0', Buffer.from('x')), Buffer.alloc(512, 0x41)]);
    await expectRefused(targz(junkAfter), 'not_tar', 'bot.py');
  });
});

describe('inspectArtifact: a single file', () => {
  it('holds the file at its name, runnable', async () => {
    const manifest = await inspectArtifact(
      { bytes: Buffer.from('#!/bin/sh\n'), kind: 'file', filename: 'run' },
      limits,
    );
    expect(manifest).toEqual({ files: [{ path: 'run', type: 'file', mode: 0o755, size: 10 }], unpackedBytes: 10 });
  });

  it.each(['', '.', '..', 'a/b', '/etc/passwd', 'a\\b', 'a\u0000b', 'a\nb', 'é'.repeat(128)])(
    'refuses the name %j',
    async (filename) => {
      const err = await refusal(inspectArtifact({ bytes: Buffer.from('x'), kind: 'file', filename }, limits));
      expect(err.code).toBe('bad_name');
      expect(err.entry).toBe(filename);
      expect(err.message).toContain(JSON.stringify(filename));
      expect(err.message).toContain('X-Filename');
    },
  );

  it('refuses an empty file and one over maxBytes', async () => {
    const empty = await refusal(inspectArtifact({ bytes: Buffer.alloc(0), kind: 'file', filename: 'bot' }, limits));
    expect(empty.code).toBe('empty');
    const big = await refusal(
      inspectArtifact({ bytes: Buffer.alloc(2000), kind: 'file', filename: 'bot' }, { ...limits, maxBytes: 1000 }),
    );
    expect(big.code).toBe('expansion');
  });
});

describe('unpackArtifact', () => {
  let work: string;
  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'codex32-artifact-'));
  });
  afterEach(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Everything under `root`, links not followed (readdir's `recursive` follows them). */
  async function tree(root: string, prefix = ''): Promise<string[]> {
    const found: string[] = [];
    for (const entry of await fs.readdir(root, { withFileTypes: true })) {
      const relative = prefix + entry.name;
      found.push(relative);
      if (entry.isDirectory()) found.push(...(await tree(path.join(root, entry.name), `${relative}/`)));
    }
    return found.sort();
  }

  it('writes the build with safe modes and its links, and nothing beside dest', async () => {
    const dest = path.join(work, 'artifacts', 'b1');
    const manifest = await unpackArtifact(
      await upload([
        { name: './', type: 'directory', mode: 0o777 },
        { name: './bin/run.sh', mode: 0o6777, content: '#!/bin/sh\n' },
        { name: './lib/a/b.txt', mode: 0o666, content: 'data' },
        { name: 'lib/a/up', type: 'symlink', linkname: '../../bin' },
        { name: 'current', type: 'symlink', linkname: 'bin/run.sh' },
      ]),
      dest,
      limits,
    );
    expect(manifest.files).toHaveLength(4);
    expect(await fs.readdir(path.dirname(dest))).toEqual(['b1']);
    expect(await tree(dest)).toEqual(['bin', 'bin/run.sh', 'current', 'lib', 'lib/a', 'lib/a/b.txt', 'lib/a/up']);
    const mode = async (file: string) => (await fs.lstat(path.join(dest, file))).mode & 0o7777;
    expect(await mode('.')).toBe(0o755);
    expect(await mode('bin')).toBe(0o755);
    expect(await mode('bin/run.sh')).toBe(0o755);
    expect(await mode('lib/a/b.txt')).toBe(0o644);
    expect(await fs.readFile(path.join(dest, 'lib/a/b.txt'), 'utf8')).toBe('data');
    expect(await fs.readlink(path.join(dest, 'current'))).toBe('bin/run.sh');
    expect(await fs.readFile(path.join(dest, 'lib/a/up/run.sh'), 'utf8')).toBe('#!/bin/sh\n');
  });

  it('writes a single file upload', async () => {
    const dest = path.join(work, 'single');
    await unpackArtifact({ bytes: Buffer.from('#!/bin/sh\n'), kind: 'file', filename: 'run' }, dest, limits);
    expect(await tree(dest)).toEqual(['run']);
    expect((await fs.stat(path.join(dest, 'run'))).mode & 0o777).toBe(0o755);
  });

  it.each<[string, () => Promise<ArtifactUpload>, ArtifactErrorCode]>([
    [
      'a link to the root, then a file through it',
      () =>
        upload([
          { name: 'a', type: 'symlink', linkname: '.' },
          { name: 'a/x', content: 'x' },
        ]),
      'link_outside',
    ],
    [
      'a link out, then a file through it',
      () =>
        upload([
          { name: 'a', type: 'symlink', linkname: '../..' },
          { name: 'a/x', content: 'x' },
        ]),
      'link_outside',
    ],
    [
      'a good file, then a path that climbs out',
      () => upload([bot, { name: '../escaped.sh', content: 'x' }]),
      'path_traversal',
    ],
    [
      'a good file, then a cut',
      async () => targz((await tarOf([bot, { name: 'data.bin', content: randomBytes(4000) }])).subarray(0, 2048)),
      'truncated',
    ],
  ])('leaves nothing behind after refusing %s', async (_label, build, code) => {
    const dest = path.join(work, 'dest');
    const err = await refusal(unpackArtifact(await build(), dest, limits));
    expect(err.code).toBe(code);
    expect(await fs.readdir(work)).toEqual([]);
    expect(await fs.readdir(path.dirname(work))).not.toContain('escaped.sh');
  });

  it('removes what it wrote when writing fails half way', async () => {
    const dest = path.join(work, 'dest');
    const open = fs.open;
    const failing = vi.spyOn(fs, 'open').mockImplementation(async (file, ...rest) => {
      if (String(file).endsWith('two.py')) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      return open(file, ...rest);
    });
    try {
      const build = await upload([
        { name: 'one.py', content: '1' },
        { name: 'two.py', content: '2' },
      ]);
      await expect(unpackArtifact(build, dest, limits)).rejects.toThrow(/EIO/);
    } finally {
      failing.mockRestore();
    }
    expect(await fs.readdir(work)).toEqual([]);
  });

  it('refuses a dest that exists, and leaves it as it was', async () => {
    const dest = path.join(work, 'taken');
    await fs.mkdir(dest);
    await expect(unpackArtifact(await upload([bot]), dest, limits)).rejects.toThrow(/already exists/);
    expect(await fs.readdir(dest)).toEqual([]);
    expect(await fs.readdir(work)).toEqual(['taken']);
  });

  it('lets one of two racing unpacks into the same dest win, whole', async () => {
    const dest = path.join(work, 'raced');
    const first = await upload([{ name: 'one.py', content: '1' }]);
    const second = await upload([{ name: 'two.py', content: '2' }]);
    const outcomes = await Promise.allSettled([
      unpackArtifact(first, dest, limits),
      unpackArtifact(second, dest, limits),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect([['one.py'], ['two.py']]).toContainEqual(await tree(dest));
    expect(await fs.readdir(work)).toEqual(['raced']);
  });
});
