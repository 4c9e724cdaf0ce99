import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { AppEnv } from '../env.js';
import { ApiError, problemResponse } from '../views/problem.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.wasm']);

interface Asset {
  type: string;
  etag: string;
  raw: Buffer;
  gzip?: Buffer;
  br?: Buffer;
}

/** Every file of the built console, read and compressed once (gzip and brotli at their best: it is small, and built once). */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const file = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        walk(file);
        continue;
      }
      const ext = path.extname(entry.name);
      const raw = readFileSync(path.join(dir, file));
      const asset: Asset = {
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
        raw,
      };
      if (COMPRESSIBLE.has(ext) && raw.length > 512) {
        asset.gzip = gzipSync(raw, { level: 9 });
        asset.br = brotliCompressSync(raw, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
        });
      }
      assets.set(`/${file}`, asset);
    }
  };
  walk('');
  return assets;
}

function send(c: Context<AppEnv>, asset: Asset, cacheControl: string): Response {
  const headers: Record<string, string> = {
    'Content-Type': asset.type,
    'Cache-Control': cacheControl,
    ETag: asset.etag,
    Vary: 'Accept-Encoding',
  };
  if (c.req.header('If-None-Match') === asset.etag) return c.body(null, 304, headers);
  const accepts = (c.req.header('Accept-Encoding') ?? '').toLowerCase();
  const encoded = accepts.includes('br') && asset.br ? 'br' : accepts.includes('gzip') && asset.gzip ? 'gzip' : null;
  const body = encoded === 'br' ? asset.br! : encoded === 'gzip' ? asset.gzip! : asset.raw;
  if (encoded) headers['Content-Encoding'] = encoded;
  return c.body(new Uint8Array(body), 200, headers);
}

/**
 * The console at /: index.html never cached (it names the current assets),
 * the fingerprinted assets under /assets/ cached for good. Built by
 * `npm run build` into dist/console; without a build, / says how to make one.
 */
export function consoleRoutes(dir: string) {
  const app = new Hono<AppEnv>();
  const assets = existsSync(path.join(dir, 'index.html')) ? loadAssets(dir) : null;
  const index = (c: Context<AppEnv>) => {
    const page = assets?.get('/index.html');
    if (!page)
      return problemResponse(
        c,
        new ApiError(
          503,
          'console-not-built',
          'Console not built',
          `The console has not been built (no ${path.join(dir, 'index.html')}). Run npm run build, then reload. The API works without it: /docs.`,
        ),
      );
    return send(c, page, 'no-cache');
  };
  app.get('/', index);
  app.get('/index.html', index);
  app.get('/assets/*', (c) => {
    const asset = assets?.get(c.req.path);
    if (!asset)
      return problemResponse(
        c,
        new ApiError(
          404,
          'not-found',
          'Not found',
          `No console asset ${c.req.path}: reload the page to get the current ones.`,
        ),
      );
    return send(c, asset, 'public, max-age=31536000, immutable');
  });
  return app;
}
