import { createHash } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { botIdSchema } from '../../lib/bot-spec.js';
import { findBot } from '../../registry/bots.js';
import { removeArtifactsExcept, storeArtifact } from '../../registry/artifacts.js';
import { artifactsInUse } from '../../registry/revisions.js';
import {
  ArtifactError,
  artifactKindOf,
  inspectArtifact,
  sha256Of,
  type ArtifactUpload,
} from '../../runtime/artifact-archive.js';
import { artifactLimitsOf } from '../../runtime/artifact-cache.js';
import { access } from '../middleware/access.js';
import { recordedAs } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { problems } from '../views/openapi.js';
import { ApiError, found, problemResponse, problemSchema } from '../views/problem.js';

/** An upload waits this long for the deployment that names it before it can be pruned. */
const UNUSED_UPLOAD_GRACE_MINUTES = 60;

const binary = z.string().openapi({ format: 'binary' });

const uploadedSchema = z
  .object({
    artifact: z.string().openapi({ example: `sha256:${'3f'.repeat(32)}`, description: 'Deploy it with this digest' }),
    size: z.number().int().openapi({ description: 'Bytes uploaded' }),
    unpacked_size: z.number().int(),
    files: z.array(z.string()).openapi({ description: 'What it holds: files and links (paths inside it)' }),
    bot_id: z.string(),
    message: z.string(),
  })
  .openapi('Artifact');

/** The digest of an upload: of the bytes for an archive; of the name and the bytes for a single file (one name, one artifact). */
function digestOf(upload: ArtifactUpload): string {
  if (upload.kind === 'tar.gz') return sha256Of(upload.bytes);
  return `sha256:${createHash('sha256').update(upload.filename).update('\0').update(upload.bytes).digest('hex')}`;
}

/**
 * Builds handed over by CI for the local runtime: stored content-addressed
 * in the registry (any worker can fetch them), checked entry by entry first
 * (an upload is hostile until shown otherwise).
 */
export function artifactRoutes(deps: AppDeps) {
  const { db, config } = deps;
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const limits = artifactLimitsOf(config);
  const maxBytes = Math.floor(config.ARTIFACT_MAX_MB * 1024 * 1024);
  const writer = access(deps, 'artifacts:write');

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/v1/bots/{id}/artifacts',
      ...writer,
      tags: ['deployments'],
      summary: 'Upload a build of a bot (local runtime)',
      description: `A .tar.gz (Content-Type: application/gzip) or one file (application/octet-stream, with its name in X-Filename), at most ARTIFACT_MAX_MB (${config.ARTIFACT_MAX_MB}) MB. Refused with 422 naming the entry: absolute paths, "..", links that point outside, hard links, devices and FIFOs, more than ARTIFACT_MAX_FILES (${config.ARTIFACT_MAX_FILES}) entries, more than ${limits.maxExpansion}× expansion, a truncated or false gzip. Nothing is kept of a refused upload. Deploy it with POST /api/v1/deployments {"artifact": <digest>, "entrypoint": <file in it>}.`,
      request: {
        params: z.object({ id: botIdSchema.openapi({ param: { name: 'id', in: 'path' } }) }),
        headers: z.object({
          'x-filename': z
            .string()
            .max(255)
            .optional()
            .openapi({ description: 'The name of a single-file upload (application/octet-stream)' }),
        }),
        body: {
          required: true,
          content: { 'application/gzip': { schema: binary }, 'application/octet-stream': { schema: binary } },
        },
      },
      responses: {
        201: { description: 'Stored', content: { 'application/json': { schema: uploadedSchema } } },
        200: {
          description: 'Those bytes were there already',
          content: { 'application/json': { schema: uploadedSchema } },
        },
        409: {
          description: 'This platform runs bots on Kubernetes: deploy an image',
          content: { 'application/problem+json': { schema: problemSchema } },
        },
        ...problems(404, 413, 415, 422),
      },
      // Who may upload is known before a byte of the upload is read.
      middleware: [
        ...writer.middleware,
        bodyLimit({
          maxSize: maxBytes,
          onError: (c) =>
            problemResponse(
              c,
              new ApiError(
                413,
                'payload-too-large',
                'Artifact too large',
                `The upload is larger than ARTIFACT_MAX_MB (${config.ARTIFACT_MAX_MB} MB). Leave out what the bot does not need at run time (tests, caches, dependencies it can install), or raise ARTIFACT_MAX_MB. Nothing was stored.`,
              ),
            ),
        }),
      ],
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const bot = await found(findBot(db, id), 'Bot', id);
      if (config.BOT_RUNTIME === 'kubernetes')
        throw new ApiError(
          409,
          'conflict',
          'Runtime mismatch',
          `Uploaded builds run as local processes; this platform runs bots on Kubernetes (BOT_RUNTIME=kubernetes). Build a container image and deploy it with POST /api/v1/deployments {"bot_id": "${bot.id}", "image": ...}. Nothing was stored.`,
        );
      const type = c.req.header('Content-Type') ?? '';
      const kind = artifactKindOf(type);
      if (!kind)
        throw new ApiError(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          `Send a .tar.gz as Content-Type: application/gzip, or one file as application/octet-stream with its name in X-Filename (got "${type || 'none'}"). Nothing was stored.`,
        );
      const filename = c.req.valid('header')['x-filename'];
      if (kind === 'file' && !filename)
        throw new ApiError(
          422,
          'validation',
          'File name missing',
          'A single-file upload (application/octet-stream) names its file in the X-Filename header, e.g. "X-Filename: bot.py". Nothing was stored.',
          [{ path: 'header X-Filename', message: 'required with application/octet-stream' }],
        );
      const bytes = Buffer.from(await c.req.arrayBuffer());
      if (bytes.length === 0)
        throw new ApiError(
          422,
          'validation',
          'Empty upload',
          'The upload is empty: send the build. Nothing was stored.',
        );
      const upload: ArtifactUpload = kind === 'file' ? { kind, bytes, filename: filename! } : { kind, bytes };
      let manifest;
      try {
        manifest = await inspectArtifact(upload, limits);
      } catch (err) {
        if (!(err instanceof ArtifactError)) throw err;
        throw new ApiError(422, 'invalid-artifact', 'Artifact refused', `${err.message}. Nothing was stored.`, [
          { path: err.entry === null ? 'body' : `entry ${err.entry}`, message: err.code },
        ]);
      }
      const digest = digestOf(upload);
      const created = await storeArtifact(db, {
        digest,
        kind,
        filename: kind === 'file' ? filename! : null,
        size: bytes.length,
        files: JSON.stringify(manifest.files.map((f) => ({ path: f.path, type: f.type, mode: f.mode, size: f.size }))),
        content: bytes,
        bot_id: bot.id,
        created_by: recordedAs(c.get('principal')!),
      });
      if (created) {
        // Builds no recent revision uses (and no fresh upload) go, so the registry does not grow with every push.
        const inUse = await artifactsInUse(db, config.ARTIFACT_KEEP_REVISIONS);
        inUse.add(digest);
        const removed = await removeArtifactsExcept(db, inUse, UNUSED_UPLOAD_GRACE_MINUTES);
        if (removed.length > 0) deps.logger.info({ removed }, 'removed artifacts no recent revision uses');
      }
      const files = manifest.files.filter((f) => f.type !== 'directory').map((f) => f.path);
      return c.json(
        {
          artifact: digest,
          size: bytes.length,
          unpacked_size: manifest.unpackedBytes,
          files,
          bot_id: bot.id,
          message: `${created ? 'Stored' : 'Already stored'}: ${files.length} file(s). Deploy it with POST /api/v1/deployments {"bot_id": "${bot.id}", "artifact": "${digest}", "entrypoint": "${files[0] ?? '<file>'}"}.`,
        },
        created ? 201 : 200,
      );
    },
  );

  return app;
}
