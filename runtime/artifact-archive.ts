import { createHash, randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { extract, type Header } from 'tar-stream';

/**
 * Checks and unpacks an uploaded bot build (an artifact). Every upload is hostile: a path may climb out,
 * a link may point anywhere, a gzip may be a bomb. Both `inspectArtifact` and `unpackArtifact` go
 * through the same rules (`ArtifactRules`), so what inspection accepts is exactly what unpacking writes.
 */

export interface ArtifactLimits {
  /** Entries of any kind (files, directories, links). */
  maxFiles: number;
  /** The unpacked content, all files together. */
  maxBytes: number;
  /** The most the content may be larger than the upload (a gzip bomb is thousands of times larger). */
  maxExpansion: number;
}

export interface ArtifactEntry {
  /** Relative, POSIX, normalised: no `.`, `..`, empty segment or trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** The mode it is written with: 0o755 or 0o644 for files, 0o755 for directories, 0o777 for links. */
  mode: number;
  size: number;
  /** Normalised, relative and inside the artifact. */
  linkTarget?: string;
}

export interface ArtifactManifest {
  files: ArtifactEntry[];
  /** The files' sizes added up. */
  unpackedBytes: number;
}

export type ArtifactErrorCode =
  | 'not_gzip'
  | 'truncated'
  | 'not_tar'
  | 'absolute_path'
  | 'path_traversal'
  | 'link_outside'
  | 'hard_link'
  | 'special_file'
  | 'too_many_files'
  | 'expansion'
  | 'bad_name'
  | 'duplicate'
  | 'empty';

/** A refused upload: `entry` is the archive entry at fault as the archive names it, or null for the upload as a whole. */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  constructor(
    message: string,
    readonly entry: string | null,
    readonly code: ArtifactErrorCode,
  ) {
    super(message);
    // A pax header may carry a name of megabytes; the error travels into logs and response bodies.
    if (entry !== null && entry.length > 1024) this.entry = entry.slice(0, 1024);
  }
}

export type ArtifactUpload = { bytes: Buffer; kind: 'tar.gz' } | { bytes: Buffer; kind: 'file'; filename: string };

/** The upload kind a Content-Type announces, or null when it is neither a .tar.gz nor a single file. */
export function artifactKindOf(contentType: string): ArtifactUpload['kind'] | null {
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/gzip' || mediaType === 'application/x-gzip') return 'tar.gz';
  if (mediaType === 'application/octet-stream') return 'file';
  return null;
}

export function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Reads the whole archive in memory (the caller caps the upload) and lists its entries, or throws ArtifactError naming the first bad entry. */
export async function inspectArtifact(upload: ArtifactUpload, limits: ArtifactLimits): Promise<ArtifactManifest> {
  const read = await readerOf(upload, limits);
  return read(drain);
}

/**
 * Unpacks into `dest`, which must not exist yet. Everything is written into a temporary sibling that is
 * renamed into place, so `dest` is either the whole artifact or absent, whatever fails or races; a refused
 * upload leaves nothing behind. The archive is checked in full before the first write, and again entry by
 * entry while writing.
 */
export async function unpackArtifact(
  upload: ArtifactUpload,
  dest: string,
  limits: ArtifactLimits,
): Promise<ArtifactManifest> {
  const target = path.resolve(dest);
  if (await exists(target)) {
    throw new Error(`cannot unpack an artifact into ${target}: it already exists; unpack into a new directory`);
  }
  const read = await readerOf(upload, limits);
  await read(drain);

  await fs.mkdir(path.dirname(target), { recursive: true });
  const staging = path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.partial`);
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    const writer = new ArtifactWriter(staging);
    const manifest = await read((entry, content) => writer.write(entry, content));
    await writer.finish();
    await fs.chmod(staging, 0o755);
    await renameIntoPlace(staging, target);
    return manifest;
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true });
    throw err;
  }
}

type EntryContent = AsyncIterable<Buffer> | Iterable<Buffer>;
type EntrySink = (entry: ArtifactEntry, content: EntryContent) => Promise<void>;
/** One pass over the upload: every entry checked, then handed to `sink`; the manifest at the end. */
type UploadReader = (sink: EntrySink) => Promise<ArtifactManifest>;

/** Inflates once, so that a check pass and a write pass read the same bytes. */
async function readerOf(upload: ArtifactUpload, limits: ArtifactLimits): Promise<UploadReader> {
  checkLimits(limits);
  if (upload.kind === 'file') {
    const { bytes, filename } = upload;
    return async (sink) => {
      const manifest = singleFile(bytes, filename, limits).manifest();
      await sink(manifest.files[0]!, [bytes]);
      return manifest;
    };
  }
  const cap = contentCap(limits, upload.bytes.length);
  const streamCap = Math.floor(cap + (limits.maxFiles + 1) * FRAMING_PER_ENTRY + CLOSING_RECORD);
  const { tar: tarBytes, complete } = await inflateCapped(upload.bytes, streamCap);
  if (!complete) {
    // The entries that did inflate may show the fault itself (a file too large, too many entries, a bad path).
    try {
      await walkTar(tarBytes, new ArtifactRules(limits, cap), drain);
    } catch (err) {
      if (!(err instanceof ArtifactError) || (err.code !== 'truncated' && err.code !== 'empty')) throw err;
    }
    throw new ArtifactError(
      `the upload inflates past ${streamCap} bytes (at most ${limits.maxBytes} bytes of content, and no more than ${limits.maxExpansion} times the ${upload.bytes.length} bytes uploaded); ship a smaller build`,
      null,
      'expansion',
    );
  }
  return async (sink) => {
    const rules = new ArtifactRules(limits, cap);
    await walkTar(tarBytes, rules, sink);
    return rules.manifest();
  };
}

async function drain(_entry: ArtifactEntry | null, content: EntryContent): Promise<void> {
  for await (const _chunk of content);
}

/**
 * tar's own blocks are not content: a one-line bot packed by GNU tar is 10 KiB of mostly zeros that gzip
 * makes 150 bytes. So the expansion rule caps the content, and the inflated stream may also carry, per
 * entry, a header, a pax header and its record and the padding of the data, plus the closing record.
 */
const FRAMING_PER_ENTRY = 4 * 512;
const CLOSING_RECORD = 20 * 512;
/** Leaves room below PATH_MAX (4096) for the directory the artifact is unpacked into. */
const MAX_PATH_BYTES = 1024;
const MAX_NAME_BYTES = 255;

function checkLimits(limits: ArtifactLimits): void {
  for (const key of ['maxFiles', 'maxBytes', 'maxExpansion'] as const) {
    if (!(Number.isFinite(limits[key]) && limits[key] >= 1)) {
      throw new Error(`artifact limit ${key} must be a number of at least 1, not ${String(limits[key])}`);
    }
  }
}

function contentCap(limits: ArtifactLimits, uploadBytes: number): number {
  return Math.min(limits.maxBytes, limits.maxExpansion * uploadBytes);
}

/**
 * Inflates until the output passes `cap`, and stops there: a bomb never grows past the cap in memory.
 * What came out before the cap is kept, so the caller can name a bad entry in it.
 */
async function inflateCapped(bytes: Buffer, cap: number): Promise<{ tar: TarBytes; complete: boolean }> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new ArtifactError(
      'the upload is not gzip-compressed; send a .tar.gz (tar -czf build.tar.gz -C build .) or a single file as application/octet-stream',
      null,
      'not_gzip',
    );
  }
  const inflater = zlib.createGunzip({ chunkSize: 64 * 1024 });
  inflater.end(bytes);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > cap) {
        chunks.push(chunk.subarray(0, chunk.length - (total - cap)));
        // Leaving the loop destroys the inflater.
        return { tar: { chunks, length: cap }, complete: false };
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
      throw new ArtifactError(
        'the upload ends in the middle of its gzip stream (it was cut short); upload the whole .tar.gz again',
        null,
        'truncated',
      );
    }
    throw new ArtifactError(
      `the upload's gzip data is damaged (${(err as Error).message}); create the .tar.gz again and upload it`,
      null,
      'not_gzip',
    );
  }
  return { tar: { chunks, length: total }, complete: true };
}

/** The inflated tar as zlib gave it: never concatenated, which would hold it twice at once. */
interface TarBytes {
  chunks: Buffer[];
  length: number;
}

/** Feeds each tar entry the rules admit to `sink`, and maps the parser's failures to refusals. */
async function walkTar(tarBytes: TarBytes, rules: ArtifactRules, sink: EntrySink): Promise<void> {
  const chunks = tarBytes.chunks.filter((chunk) => chunk.length > 0);
  const parser = extract();
  const entries = parser[Symbol.asyncIterator]();
  chunks.forEach((chunk, i) => (i === chunks.length - 1 ? parser.end(chunk) : parser.write(chunk)));
  if (chunks.length === 0) parser.end(Buffer.alloc(0));
  let last: string | null = null;
  let finished = false;
  try {
    for (;;) {
      let next: IteratorResult<AsyncIterable<unknown> & { header: Header }>;
      try {
        next = await entries.next();
      } catch (err) {
        throw tarError(err, last, tarBytes.length);
      }
      if (next.done) break;
      const { header } = next.value;
      last = header.name;
      const entry = rules.admit(header);
      const content = checkedContent(next.value, header);
      await (entry ? sink(entry, content) : drain(null, content));
    }
    finished = true;
  } finally {
    // Stops the parser when a refusal leaves the archive half read.
    if (!finished) await entries.return?.();
  }
  rules.finish();
}

/** An entry's data, failing as a refusal when the archive ends before it does. */
async function* checkedContent(stream: AsyncIterable<unknown>, header: Header): AsyncGenerator<Buffer> {
  let read = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      read += chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw tarError(err, header.name, Infinity, true);
  }
  if (read !== header.size) throw tarError(new Error('Unexpected end of data'), header.name, Infinity, true);
}

/**
 * A parser failure as a refusal. `entry` is the entry being read (`inEntry`) or the last one read before
 * the failure; an archive shorter than one header block is no tar at all rather than a cut one.
 */
function tarError(err: unknown, entry: string | null, tarLength: number, inEntry = false): ArtifactError {
  const reason = err instanceof Error ? err.message : String(err);
  const where = entry === null ? '' : ` after entry ${show(entry)}`;
  if (/unexpected end of data/i.test(reason) && tarLength >= 512) {
    const cut = inEntry
      ? `in the middle of entry ${show(entry ?? '')}`
      : entry === null
        ? 'in the middle of its first entry'
        : `in the middle of the entry after ${show(entry)}`;
    return new ArtifactError(
      `the archive ends ${cut} (it was cut short); upload the whole .tar.gz again`,
      entry,
      'truncated',
    );
  }
  if (/null byte/i.test(reason)) {
    return new ArtifactError(
      `a pax header${where} holds a path with a NUL byte; rename the file and pack again`,
      entry,
      'bad_name',
    );
  }
  return new ArtifactError(
    `the gzip does not hold a tar archive${where} (${reason}); pack it with tar -czf build.tar.gz -C build .`,
    entry,
    'not_tar',
  );
}

/** An entry name as a message shows it: quoted, escaped, and cut when long. */
function show(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function segmentsOf(raw: string, what: string): string[] {
  if (hasControl(raw)) {
    throw new ArtifactError(`${what} has a NUL or control character; rename it and pack again`, raw, 'bad_name');
  }
  if (raw.includes('\\')) {
    throw new ArtifactError(
      `${what} has a backslash; tar paths separate folders with "/": pack on a POSIX system or rename it`,
      raw,
      'bad_name',
    );
  }
  return raw.split('/').filter((segment) => segment !== '' && segment !== '.');
}

function isAbsolute(raw: string): boolean {
  return raw.startsWith('/') || /^[A-Za-z]:/.test(raw);
}

/** The normalised path of an entry, or throws naming what is wrong with it. */
function entryPath(raw: string): string {
  const what = `entry ${show(raw)}`;
  const segments = segmentsOf(raw, what);
  if (isAbsolute(raw)) {
    throw new ArtifactError(
      `${what} is an absolute path; pack paths relative to the build's root (tar -czf build.tar.gz -C build .)`,
      raw,
      'absolute_path',
    );
  }
  if (segments.includes('..')) {
    throw new ArtifactError(
      `${what} climbs out of the artifact with ".."; pack paths relative to the build's root`,
      raw,
      'path_traversal',
    );
  }
  if (segments.some((segment) => Buffer.byteLength(segment) > MAX_NAME_BYTES)) {
    throw new ArtifactError(`${what} has a name longer than ${MAX_NAME_BYTES} bytes; shorten it`, raw, 'bad_name');
  }
  const normalised = segments.join('/');
  if (Buffer.byteLength(normalised) > MAX_PATH_BYTES) {
    throw new ArtifactError(`${what} is longer than ${MAX_PATH_BYTES} bytes; shorten it`, raw, 'bad_name');
  }
  return normalised;
}

/**
 * A link's target, normalised, if it stays inside the artifact. `..` may only lead: the link's own
 * directory is a real one (no entry may lie under a link), so leading `..` climb exactly as far as they
 * read. After a name, `..` would climb from wherever that name leads, and a name can be another link:
 * with `p -> .`, `q -> p/..` reads as the root but is its parent.
 */
function linkTarget(linkPath: string, raw: string, entryName: string): string {
  const what = `symlink ${show(entryName)}`;
  if (raw === '')
    throw new ArtifactError(`${what} has an empty target; point it at a file in the build`, entryName, 'bad_name');
  const segments = segmentsOf(raw, `${what} (-> ${show(raw)})`);
  const outside = (why: string) =>
    new ArtifactError(
      `${what} points to ${show(raw)}, ${why}; link only to files inside the build, with a relative path`,
      entryName,
      'link_outside',
    );
  if (isAbsolute(raw)) throw outside('an absolute path outside the artifact');
  let depth = linkPath.split('/').length - 1;
  let named = false;
  for (const segment of segments) {
    if (segment !== '..') named = true;
    else if (named) throw outside('which climbs with ".." after a name (write the path without it)');
    else if (--depth < 0) throw outside('outside the artifact');
  }
  return segments.length === 0 ? '.' : segments.join('/');
}

const SPECIAL: Record<string, string> = {
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a FIFO (named pipe)',
  'contiguous-file': 'a contiguous file',
};

/** The rules every entry passes, in archive order; it keeps what it needs to judge the next one. */
class ArtifactRules {
  private readonly files: ArtifactEntry[] = [];
  /** What each path is so far; `implied` is a directory that only the paths under it create. */
  private readonly kinds = new Map<string, ArtifactEntry['type'] | 'implied'>();
  private unpackedBytes = 0;

  /** `cap`: the most content the files may add up to. */
  constructor(
    private readonly limits: ArtifactLimits,
    private readonly cap: number,
  ) {}

  /** The entry as it will be written, null for the archive's root directory, or throws. */
  admit(header: Pick<Header, 'name' | 'type' | 'size' | 'mode' | 'linkname'>): ArtifactEntry | null {
    const raw = header.name;
    const what = `entry ${show(raw)}`;
    const normalised = entryPath(raw);
    // tar-stream decodes unknown type flags as null, whatever its types say.
    const type = header.type as string | null;
    if (normalised === '') {
      if (type === 'directory') return null;
      throw new ArtifactError(
        `${what} names the artifact's root but is not a directory; give it a name`,
        raw,
        'bad_name',
      );
    }
    if (this.files.length >= this.limits.maxFiles) {
      throw new ArtifactError(
        `the archive holds more than ${this.limits.maxFiles} entries (files, directories and links; ${what} is one too many); ship a smaller build or bundle it`,
        raw,
        'too_many_files',
      );
    }
    if (type === 'link') {
      throw new ArtifactError(
        `${what} is a hard link; hard links are refused: pack the file itself, not a hard link (tar --hard-dereference)`,
        raw,
        'hard_link',
      );
    }
    if (type !== 'file' && type !== 'directory' && type !== 'symlink') {
      throw new ArtifactError(
        `${what} is ${(type && SPECIAL[type]) ?? `of an unsupported kind (${type ?? 'unknown type flag'})`}; an artifact holds only files, directories and symlinks: leave it out`,
        raw,
        'special_file',
      );
    }
    if (type === 'directory' && header.size > 0) {
      throw new ArtifactError(
        `${what} is a directory that carries ${header.size} bytes of data; the archive is malformed: pack it again with tar`,
        raw,
        'not_tar',
      );
    }

    this.claimParents(normalised, raw);
    const previous = this.kinds.get(normalised);
    if (previous !== undefined && !(previous === 'implied' && type === 'directory')) {
      throw new ArtifactError(
        previous === 'implied'
          ? `${what} is a ${type}, but earlier entries put files under ${show(normalised)}; pack it once, as a directory`
          : `${what} appears twice in the archive (as a ${previous} and as a ${type}); keep one`,
        raw,
        'duplicate',
      );
    }
    this.kinds.set(normalised, type);

    let entry: ArtifactEntry;
    if (type === 'file') {
      this.unpackedBytes += header.size;
      if (this.unpackedBytes > this.cap) {
        throw new ArtifactError(
          `${what} brings the unpacked size to ${this.unpackedBytes} bytes, over the limit of ${this.cap} (at most ${this.limits.maxBytes} bytes, and no more than ${this.limits.maxExpansion} times the upload); ship a smaller build`,
          raw,
          'expansion',
        );
      }
      entry = { path: normalised, type, mode: header.mode & 0o111 ? 0o755 : 0o644, size: header.size };
    } else if (type === 'directory') {
      entry = { path: normalised, type, mode: 0o755, size: 0 };
    } else {
      const target = linkTarget(normalised, header.linkname ?? '', raw);
      entry = { path: normalised, type, mode: 0o777, size: 0, linkTarget: target };
    }
    this.files.push(entry);
    return entry;
  }

  /** Every directory above an entry must be a real one: never a file, never a link to write through. */
  private claimParents(normalised: string, raw: string): void {
    const segments = normalised.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      const kind = this.kinds.get(parent);
      if (kind === 'symlink') {
        throw new ArtifactError(
          `entry ${show(raw)} lies under ${show(parent)}, which the archive makes a symlink; nothing is written through a link: pack the real directory instead`,
          raw,
          'link_outside',
        );
      }
      if (kind === 'file') {
        throw new ArtifactError(
          `entry ${show(raw)} lies under ${show(parent)}, which the archive makes a file; rename one of them`,
          raw,
          'duplicate',
        );
      }
      if (kind === undefined) this.kinds.set(parent, 'implied');
    }
  }

  finish(): void {
    if (!this.files.some((entry) => entry.type === 'file')) {
      throw new ArtifactError("the archive holds no file; pack the build's files, not just its folders", null, 'empty');
    }
  }

  manifest(): ArtifactManifest {
    return { files: [...this.files], unpackedBytes: this.unpackedBytes };
  }
}

/** A single-file upload: the file at its own name, runnable, since it is the build's entry point. */
function singleFile(bytes: Buffer, filename: string, limits: ArtifactLimits): ArtifactRules {
  const what = `file name ${show(filename)}`;
  const refuse = (why: string): never => {
    throw new ArtifactError(
      `${what} ${why}; send the file's base name in X-Filename (e.g. "bot.py")`,
      filename,
      'bad_name',
    );
  };
  if (filename === '' || filename === '.' || filename === '..') refuse('is not a name');
  if (hasControl(filename)) refuse('has a NUL or control character');
  if (filename.includes('/') || filename.includes('\\')) refuse('has a slash');
  if (Buffer.byteLength(filename) > MAX_NAME_BYTES) refuse(`is longer than ${MAX_NAME_BYTES} bytes`);
  if (bytes.length === 0)
    throw new ArtifactError(`the upload ${show(filename)} has no bytes; send the file`, filename, 'empty');
  // Stored as sent, so it cannot expand: only maxBytes applies.
  const rules = new ArtifactRules(limits, limits.maxBytes);
  rules.admit({ name: filename, type: 'file', size: bytes.length, mode: 0o755, linkname: '' });
  rules.finish();
  return rules;
}

/**
 * Writes admitted entries under `root` without ever following a link: directories are made one level at a
 * time and must be real directories, files are created exclusively with O_NOFOLLOW, and links come last,
 * when nothing more is written.
 */
class ArtifactWriter {
  private readonly madeDirs = new Set<string>(['']);
  private readonly links: ArtifactEntry[] = [];

  constructor(private readonly root: string) {}

  async write(entry: ArtifactEntry, content: EntryContent): Promise<void> {
    if (entry.type === 'symlink') {
      this.links.push(entry);
      return drain(entry, content);
    }
    if (entry.type === 'directory') {
      await this.makeDirs(entry.path, entry.path);
      return drain(entry, content);
    }
    await this.makeDirs(path.posix.dirname(entry.path), entry.path);
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const file = await fs.open(path.join(this.root, entry.path), flags, entry.mode);
    try {
      for await (const chunk of content) await file.write(chunk);
      // The umask may have taken bits away.
      await file.chmod(entry.mode);
    } finally {
      await file.close();
    }
  }

  async finish(): Promise<void> {
    for (const link of this.links) {
      await this.makeDirs(path.posix.dirname(link.path), link.path);
      await fs.symlink(link.linkTarget!, path.join(this.root, link.path));
    }
  }

  private async makeDirs(relative: string, entry: string): Promise<void> {
    if (relative === '.' || this.madeDirs.has(relative)) return;
    let made = '';
    for (const segment of relative.split('/')) {
      made = made ? `${made}/${segment}` : segment;
      if (this.madeDirs.has(made)) continue;
      const dir = path.join(this.root, made);
      try {
        await fs.mkdir(dir, 0o755);
        await fs.chmod(dir, 0o755);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!(await fs.lstat(dir)).isDirectory()) {
          throw new ArtifactError(
            `entry ${show(entry)} lies under ${show(made)}, which is not a directory; nothing is written through a link: pack the real directory instead`,
            entry,
            'link_outside',
          );
        }
      }
      this.madeDirs.add(made);
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** rename(2) replaces only an empty directory, and an artifact never is one: a racing unpack into the same `dest` fails here. */
async function renameIntoPlace(staging: string, target: string): Promise<void> {
  try {
    await fs.rename(staging, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR') {
      throw new Error(
        `cannot unpack an artifact into ${target}: it appeared while unpacking; unpack into a new directory`,
        { cause: err },
      );
    }
    throw err;
  }
}
