import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { access, ACCESS_EXTENSION, withAccess, type Access } from './middleware/access.js';

type OpenApiDocument = { paths?: Record<string, Record<string, { [ACCESS_EXTENSION]?: Access }>> };
import { authenticate } from './auth/authenticate.js';
import type { Principal } from './auth/principal.js';
import { problemResponseRef } from './views/openapi.js';
import type { AppDeps } from './deps.js';
import type { AppEnv } from './env.js';
import { ApiError, fromHttpException, problemResponse, validationError } from './views/problem.js';
import { authRoutes } from './routes/auth.js';
import { botRoutes } from './routes/bots.js';
import { docsRoutes } from './routes/docs.js';
import { consoleRoutes } from './routes/console.js';
import path from 'node:path';
import { projectRoot } from '../lib/project-root.js';
import { healthRoutes } from './routes/health.js';
import { incidentRoutes } from './routes/incidents.js';
import { userRoutes } from './routes/users.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { auditRoutes } from './routes/audit.js';
import { deploymentRoutes } from './routes/deployments.js';
import { revisionRoutes } from './routes/revisions.js';
import { artifactRoutes } from './routes/artifacts.js';
import { selfRoutes } from './routes/self.js';
import { guideRoutes } from './routes/guide.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { blueprintRoutes } from './routes/blueprints.js';
import type { GuideDeps } from './views/guide.js';
import { platformVersion } from '../lib/version.js';
import { fleetFiguresSchema } from '../lib/fleet-figures-schema.js';
import { fleetEventSchema } from '../lib/fleet-event-schema.js';
import { registerCommandSocket, type CommandSocketDeps } from './routes/command-socket.js';
import { auditTrail } from './middleware/audit.js';
import { screenInput } from './middleware/input-screen.js';
import { guidedResponses, withGuidedFields } from './middleware/guidance.js';

export type AppDepsInput = Omit<AppDeps, 'validationHook' | 'authenticate'> & {
  /** The chat socket (GET /ws/command/{user_id}); absent: no socket (the app alone, as in some tests and benchmarks). */
  socket?: CommandSocketDeps;
  /** The built console (npm run build); default dist/console of this installation. */
  consoleDir?: string;
};

/** Whether a principal passes a route's declared access; a route that declares none (documents) is public. */
function allows(p: Principal, need: Access | undefined): boolean {
  if (need === undefined || need === 'public' || need === 'signed-in') return true;
  if (need === 'bot-self') return p.type === 'bot';
  return p.permissions.has(need);
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
const ARTIFACT_UPLOAD = /^\/api\/v1\/bots\/[^/]+\/artifacts$/;
const isArtifactUpload = (method: string, path: string) => method === 'PUT' && ARTIFACT_UPLOAD.test(path);

export function createApp(input: AppDepsInput) {
  const deps: AppDeps = {
    ...input,
    authenticate: authenticate({
      auth: input.auth,
      apiKeys: input.apiKeys,
      adminApiKey: input.config.ADMIN_API_KEY,
      requestLimit: input.requestLimit,
    }),
    validationHook: (result, c: Context) => {
      if (!result.success) {
        const target = (result as { target?: string }).target;
        const where =
          target === 'json'
            ? 'request body'
            : target === 'param'
              ? 'path'
              : target === 'query'
                ? 'query string'
                : 'request';
        return problemResponse(c, validationError(result.error, where));
      }
    },
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });

  app.use(deps.metrics.middleware());
  if (deps.config.CORS_ORIGINS.length > 0) {
    app.use(
      cors({
        origin: deps.config.CORS_ORIGINS,
        allowHeaders: ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-Id'],
        exposeHeaders: [
          'X-Request-Id',
          'Retry-After',
          'RateLimit-Limit',
          'RateLimit-Remaining',
          'RateLimit-Reset',
          'RateLimit-Policy',
        ],
        maxAge: 600,
      }),
    );
  }
  app.use(requestId());
  app.use(auditTrail(deps.db, deps.logger, deps.clientAddress));
  app.use(guidedResponses());
  // The console and the API: nothing inline, nothing from elsewhere. Swagger UI and ReDoc style inline and use blob workers.
  const strict = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      workerSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    referrerPolicy: 'same-origin',
  });
  const docs = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      styleSrc: ["'self'", "'unsafe-inline'"],
      workerSrc: ["'self'", 'blob:'],
    },
  });
  app.use((c, next) => (/^\/(docs|redoc)(\/|$)/.test(c.req.path) ? docs(c, next) : strict(c, next)));
  app.use('/api/*', async (c, next) => {
    // Build uploads are binary, with their own limit (ARTIFACT_MAX_MB): their route checks both.
    if (isArtifactUpload(c.req.method, c.req.path)) return next();
    if (['POST', 'PUT', 'PATCH'].includes(c.req.method) && c.req.header('Content-Length') !== '0') {
      const type = (c.req.header('Content-Type') ?? '').split(';')[0]!.trim();
      const hasBody = c.req.header('Content-Length') !== undefined || c.req.header('Transfer-Encoding') !== undefined;
      if (hasBody && !JSON_TYPE.test(type)) {
        throw new ApiError(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          `Send the body as JSON with Content-Type: application/json (got "${type || 'none'}").`,
        );
      }
    }
    await next();
  });
  const jsonBodyLimit = bodyLimit({
    maxSize: deps.config.API_MAX_BODY_BYTES,
    onError: (c) =>
      problemResponse(
        c,
        new ApiError(
          413,
          'payload-too-large',
          'Payload too large',
          `The body is larger than ${deps.config.API_MAX_BODY_BYTES} bytes (API_MAX_BODY_BYTES). Send less: large data belongs in files the bot reads.`,
        ),
      ),
  });
  app.use('/api/*', (c, next) => (isArtifactUpload(c.req.method, c.req.path) ? next() : jsonBodyLimit(c, next)));
  app.use(screenInput());

  // Credentials unless the API listens on loopback only (METRICS_AUTH overrides): the bot ids and incident counts are the fleet's inventory.
  if (deps.config.METRICS_AUTH) app.use('/metrics', ...access(deps, 'metrics:read').middleware);
  app.get('/metrics', async (c) =>
    c.body(await deps.metrics.registry.metrics(), 200, { 'Content-Type': deps.metrics.registry.contentType }),
  );
  app.route('/', healthRoutes(deps));
  app.route('/', authRoutes(deps));
  app.route('/', userRoutes(deps));
  app.route('/', apiKeyRoutes(deps));
  app.route('/', auditRoutes(deps));
  app.route('/', botRoutes(deps));
  app.route('/', incidentRoutes(deps));
  app.route('/', deploymentRoutes(deps));
  app.route('/', revisionRoutes(deps));
  app.route('/', artifactRoutes(deps));
  app.route('/', selfRoutes(deps));
  const mayRequest: GuideDeps['mayRequest'] = (p, r) => allows(p, accessOfRequest(r.method, r.path));
  app.route('/', guideRoutes(deps, { mayRequest, voice: input.socket?.voice ?? null }));
  app.route('/', dashboardRoutes(deps, { mayRequest }));
  app.route('/', blueprintRoutes(deps));
  app.route('/', docsRoutes());
  app.route('/', consoleRoutes(input.consoleDir ?? path.join(projectRoot(), 'dist', 'console')));
  /** The OpenAPI document, built once, at first use (every route is mounted by then). */
  let document: OpenApiDocument | undefined;
  const openApiDocument = (): OpenApiDocument =>
    (document ??= withAccess(
      withGuidedFields(
        app.getOpenAPI31Document({
          openapi: '3.1.0',
          info: {
            title: 'Codex-32 API',
            version: platformVersion(),
            description:
              "Register bots and drive their lifecycles. Every change goes through the bot's Temporal workflow (bot-<id>).",
          },
        }),
      ),
      problemResponseRef,
    ) as OpenApiDocument);
  /** What a route asks of its caller, from its own declaration: the one table the chat's permissions come from. */
  const accessOf = (method: string, path: string): Access | undefined =>
    openApiDocument().paths?.[path]?.[method.toLowerCase()]?.[ACCESS_EXTENSION];
  /** What the route a concrete request would reach asks of its caller (the template with the most literal segments wins). */
  let templates: Array<{ path: string; segments: string[] }> | undefined;
  const accessOfRequest = (method: string, concrete: string): Access | undefined => {
    templates ??= Object.keys(openApiDocument().paths ?? {}).map((path) => ({ path, segments: path.split('/') }));
    const segments = concrete.split('?')[0]!.split('/');
    let best: { path: string; literal: number } | undefined;
    for (const t of templates) {
      if (t.segments.length !== segments.length) continue;
      let literal = 0;
      const fits = t.segments.every((s, i) =>
        s.startsWith('{') && s.endsWith('}') ? segments[i] !== '' : s === segments[i] && ++literal > 0,
      );
      if (fits && accessOf(method, t.path) !== undefined && (!best || literal > best.literal))
        best = { path: t.path, literal };
    }
    return best ? accessOf(method, best.path) : undefined;
  };
  if (input.socket) registerCommandSocket(app, deps, { ...input.socket, accessOf });

  // The command socket's events are not a route's answer: registered so that its clients are typed from the same document.
  app.openAPIRegistry.register('FleetEvent', fleetEventSchema);
  app.openAPIRegistry.register('FleetFigures', fleetFiguresSchema);
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'Access token from POST /api/v1/auth/login (refresh with POST /api/v1/auth/refresh).',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'ADMIN_API_KEY, or a key minted with POST /api/v1/api-keys (a role, or a narrower permission set).',
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument()));

  app.notFound((c) =>
    problemResponse(
      c,
      new ApiError(
        404,
        'not-found',
        'Not found',
        `No route ${c.req.method} ${c.req.path}. The API is described at /openapi.json and /docs.`,
      ),
    ),
  );
  app.onError((err, c) => {
    if (err instanceof ApiError) return problemResponse(c, err);
    if (err instanceof HTTPException) return problemResponse(c, fromHttpException(err));
    deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'unhandled error');
    return problemResponse(
      c,
      new ApiError(
        500,
        'internal',
        'Internal error',
        `Something failed on our side. Quote request id ${c.get('requestId')} when reporting it.`,
      ),
    );
  });
  return app;
}
