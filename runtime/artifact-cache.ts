import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../lib/config.js';
import { ArtifactError, unpackArtifact, type ArtifactLimits, type ArtifactUpload } from './artifact-archive.js';

/** An upload is at most ARTIFACT_MAX_MB; unpacked, at most ten times that. */
export const MAX_EXPANSION = 10;

export function artifactLimitsOf(config: Pick<Config, 'ARTIFACT_MAX_MB' | 'ARTIFACT_MAX_FILES'>): ArtifactLimits {
  return {
    maxFiles: config.ARTIFACT_MAX_FILES,
    maxBytes: Math.floor(config.ARTIFACT_MAX_MB * 1024 * 1024 * MAX_EXPANSION),
    maxExpansion: MAX_EXPANSION,
  };
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/**
 * Uploaded builds, unpacked once per host into a directory named by their
 * digest, which launches run from. The bytes come from the registry (any
 * worker can fetch them); an unpacked directory is complete or absent, so
 * two launches of one digest at once unpack it once.
 */
export class ArtifactCache {
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly fetch: (digest: string) => Promise<ArtifactUpload | undefined>,
    private readonly limits: ArtifactLimits,
  ) {}

  /** Where the artifact is unpacked on this host, unpacking it first when it is not. */
  async unpacked(digest: string): Promise<string> {
    const dest = this.pathOf(digest);
    if (await isDir(dest)) return dest;
    let pending = this.unpacking.get(digest);
    if (!pending) {
      pending = this.unpack(digest, dest).finally(() => this.unpacking.delete(digest));
      this.unpacking.set(digest, pending);
    }
    return pending;
  }

  /** Removes what no wanted digest names (and leftovers of unpacks that died); returns the digests removed. */
  async prune(wanted: ReadonlySet<string>): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      const digest = `sha256:${name}`;
      const partial = name.startsWith('.') && name.endsWith('.partial');
      if (!partial && (wanted.has(digest) || this.unpacking.has(digest))) continue;
      if (!partial && !DIGEST.test(digest)) continue;
      await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
      if (!partial) removed.push(digest);
    }
    return removed;
  }

  private pathOf(digest: string): string {
    const hex = DIGEST.exec(digest)?.[1];
    if (!hex)
      throw new ArtifactError(`"${digest}" is not an artifact digest (sha256:<64 hex digits>)`, null, 'bad_name');
    return path.join(this.dir, hex);
  }

  private async unpack(digest: string, dest: string): Promise<string> {
    const upload = await this.fetch(digest);
    if (!upload) throw new ArtifactError(`artifact ${digest} is not in the registry (removed?)`, null, 'empty');
    // Readable by the bots' user, who runs what is inside: the same rights a bots directory gives.
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    try {
      await unpackArtifact(upload, dest, this.limits);
    } catch (err) {
      // Another process on this host unpacked it first: theirs is as good.
      if (!(err instanceof ArtifactError) && (await isDir(dest))) return dest;
      throw err;
    }
    return dest;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
