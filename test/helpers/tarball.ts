import { pack, type Header } from 'tar-stream';

/** Archives for upload tests, built in the test: good ones with tar-stream, hostile ones byte by byte where tar-stream would not write them. */

export type Spec = Partial<Header> & { name: string; content?: string | Buffer };

export async function tarOf(specs: Spec[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of archive) chunks.push(chunk as Buffer);
  })();
  for (const { content, ...header } of specs) {
    const body = content ?? '';
    const size = header.type === undefined || header.type === 'file' ? Buffer.byteLength(body) : 0;
    await new Promise<void>((resolve, reject) =>
      archive.entry({ size, ...header }, size ? body : '', (err) => (err ? reject(err) : resolve())),
    );
  }
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A tar header as a hostile packer writes it: any name, any type flag, GNU or POSIX magic. */
export function rawHeader(name: string, typeflag: string, size = 0, linkname = '', gnu = false): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100);
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write(typeflag, 156);
  block.write(linkname, 157, 100);
  if (gnu) block.write('ustar  \0', 257);
  else block.write('ustar\x0000', 257);
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

export function rawEntry(name: string, typeflag: string, data = Buffer.alloc(0), linkname = '', gnu = false): Buffer {
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([rawHeader(name, typeflag, data.length, linkname, gnu), data, padding]);
}

export const rawTar = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
