import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../env.js';

const require = createRequire(import.meta.url);
const swaggerDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const redocBundle = path.join(path.dirname(require.resolve('redoc/package.json')), 'bundles', 'redoc.standalone.js');

const assets: Record<string, { file: string; type: string }> = {
  '/docs/assets/swagger-ui.css': { file: path.join(swaggerDir, 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  '/docs/assets/swagger-ui-bundle.js': {
    file: path.join(swaggerDir, 'swagger-ui-bundle.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/redoc/assets/redoc.standalone.js': { file: redocBundle, type: 'text/javascript; charset=utf-8' },
};

const page = (title: string, head: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>${head}</head><body>${body}</body></html>`;

/** Swagger UI and ReDoc, every asset served from our own node_modules: no CDN. */
export function docsRoutes() {
  const app = new Hono<AppEnv>();
  const cache = new Map<string, Buffer>();
  for (const [route, { file, type }] of Object.entries(assets)) {
    app.get(route, async (c) => {
      let body = cache.get(file);
      if (!body) {
        body = await readFile(file);
        cache.set(file, body);
      }
      return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
    });
  }
  app.get('/docs/assets/init.js', (c) =>
    c.body(`window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`, 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
    }),
  );
  app.get('/docs', (c) =>
    c.html(
      page(
        'Codex-32 API',
        '<link rel="stylesheet" href="/docs/assets/swagger-ui.css">',
        '<div id="swagger-ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/assets/init.js"></script>',
      ),
    ),
  );
  app.get('/redoc', (c) =>
    c.html(
      page(
        'Codex-32 API reference',
        '',
        '<redoc spec-url="/openapi.json"></redoc><script src="/redoc/assets/redoc.standalone.js"></script>',
      ),
    ),
  );
  return app;
}
