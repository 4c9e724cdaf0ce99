import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { pack } from 'tar-stream';

/** What a build directory holds that a bot does not run: version control and editor droppings. */
const LEFT_OUT = new Set(['.git', '.hg', '.svn', '.DS_Store']);

export interface Upload {
  body: Buffer;
  contentType: 'application/gzip' | 'application/octet-stream';
  filename?: string;
}

/**
 * What `--artifact PATH` uploads: a directory packed as a .tar.gz (files,
 * directories and links, modes kept), a .tar.gz or .tgz as it is, any other
 * file as a single file with its name.
 */
export async function uploadOf(target: string): Promise<Upload> {
  const stat = await fs.stat(target);
  if (stat.isDirectory()) return { body: await packDirectory(target), contentType: 'application/gzip' };
  const body = await fs.readFile(target);
  if (/\.(tar\.gz|tgz)$/i.test(target)) return { body, contentType: 'application/gzip' };
  return { body, contentType: 'application/octet-stream', filename: path.basename(target) };
}

async function packDirectory(root: string): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const gzip = zlib.createGzip({ level: 9 });
  archive.pipe(gzip);
  const collected = new Promise<void>((resolve, reject) => {
    gzip.on('data', (c: Buffer) => chunks.push(c));
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  const add = (header: Parameters<typeof archive.entry>[0], body?: Buffer) =>
    new Promise<void>((resolve, reject) => archive.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())));
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fs.readdir(path.join(root, dir), { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const entry of entries) {
      if (LEFT_OUT.has(entry.name)) continue;
      const name = dir ? `${dir}/${entry.name}` : entry.name;
      const full = path.join(root, name);
      const st = await fs.lstat(full);
      if (entry.isDirectory()) {
        await add({ name: `${name}/`, type: 'directory', mode: 0o755 });
        await walk(name);
      } else if (entry.isSymbolicLink()) {
        await add({ name, type: 'symlink', linkname: await fs.readlink(full) });
      } else if (entry.isFile()) {
        const body = await fs.readFile(full);
        await add({ name, type: 'file', size: body.length, mode: st.mode & 0o111 ? 0o755 : 0o644 }, body);
      }
      // Devices, FIFOs and sockets are no part of a build: the platform would refuse them anyway.
    }
  };
  await walk('');
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}
