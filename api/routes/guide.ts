import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { botIdSchema } from '../../lib/bot-spec.js';
import { access } from '../middleware/access.js';
import { platformVersion } from '../../lib/version.js';
import { withTimeout } from '../../lib/with-timeout.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { gatherGlance } from '../views/fleet-glance.js';
import {
  assessFleet,
  fleetHealthSchema,
  guideStepSchema,
  nextSteps,
  onboarding,
  onboardingStepSchema,
  statusCountsSchema,
  type GuideDeps,
  type GuideRequest,
} from '../views/guide.js';
import { problems } from '../views/openapi.js';
import type { Principal } from '../auth/principal.js';
import {
  gatherRecommendationInput,
  recommend,
  recommendationSchema,
  SEVERITY_ORDER,
} from '../views/recommendations.js';

const checkSchema = z
  .object({ ok: z.boolean(), detail: z.string().openapi({ description: 'What was seen, or what to do' }) })
  .catchall(z.unknown());

/** The guide: who you are, what runs, what to do next, from the platform's state right now. */
export function guideRoutes(deps: AppDeps, guide: GuideDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: deps.validationHook });
  const glanceFor = (p: Principal) => gatherGlance(deps, p.permissions);
  const mayFor = (p: Principal) => (r: GuideRequest) => guide.mayRequest(p, r);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/guide/hello',
      ...access(deps, 'signed-in'),
      tags: ['guide'],
      summary: 'Who you are, what the platform runs, and the next three things you can do',
      description: 'The next steps are fitted to your permissions: each request in them is one you may send.',
      responses: {
        200: {
          description: 'Hello',
          content: {
            'application/json': {
              schema: z.object({
                greeting: z.string(),
                you: z.object({
                  type: z.enum(['user', 'api-key', 'bot']),
                  id: z.string(),
                  name: z.string(),
                  role: z.string().nullable(),
                  permissions: z.array(z.string()),
                }),
                platform: z.object({
                  version: z.string(),
                  runtime: z.enum(['local', 'kubernetes']),
                  bots: z.number().int().nullable().openapi({ description: 'null without bots:read' }),
                  by_status: statusCountsSchema.nullable().openapi({ description: 'null without bots:read' }),
                  temporal_namespace: z.string(),
                  temporal_ui_url: z
                    .string()
                    .nullable()
                    .openapi({ description: 'Temporal UI (TEMPORAL_UI_URL); null when none is known' }),
                }),
                next: z.array(guideStepSchema),
                onboarding_complete: z.boolean(),
              }),
            },
          },
        },
        ...problems(401),
      },
    }),
    async (c) => {
      const p = c.get('principal')!;
      const g = await glanceFor(p);
      const name = p.type === 'user' ? p.username : p.type === 'api-key' ? p.name : p.botId;
      const total = Object.values(g.counts).reduce((a, b) => a + b, 0);
      const running = g.counts.running + g.counts.degraded;
      const reads = p.permissions.has('bots:read');
      const fleet = reads ? ` runs ${total === 1 ? '1 bot' : `${total} bots`} (${running} running)` : ' runs';
      return c.json(
        {
          greeting: `Hello ${name}. Codex-32 ${platformVersion()}${fleet} on the ${deps.config.BOT_RUNTIME} runtime.`,
          you: {
            type: p.type,
            id: p.id,
            name,
            role: p.role,
            permissions: [...p.permissions].sort(),
          },
          platform: {
            version: platformVersion(),
            runtime: deps.config.BOT_RUNTIME,
            bots: reads ? total : null,
            by_status: reads ? g.counts : null,
            temporal_namespace: deps.config.TEMPORAL_NAMESPACE,
            temporal_ui_url: deps.config.TEMPORAL_UI_URL,
          },
          next: nextSteps(g, mayFor(p)),
          onboarding_complete: onboarding(g).every((s) => s.done),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/guide/onboarding',
      ...access(deps, 'signed-in'),
      tags: ['guide'],
      summary: 'The first-steps checklist, each step computed from what the platform holds',
      description:
        "Each step says whether it is done, and the exact request (or the console's page) that does it. `yours` is false for a step your permissions do not let you take.",
      responses: {
        200: {
          description: 'The checklist, in order',
          content: {
            'application/json': {
              schema: z.object({
                steps: z.array(onboardingStepSchema.extend({ yours: z.boolean() })),
                done: z.number().int(),
                total: z.number().int(),
                complete: z.boolean(),
                next: z.string().nullable().openapi({ description: 'The id of the first step not done' }),
              }),
            },
          },
        },
        ...problems(401),
      },
    }),
    async (c) => {
      const p = c.get('principal')!;
      const may = mayFor(p);
      const steps = onboarding(await glanceFor(p)).map((s) => ({ ...s, yours: s.request === null || may(s.request) }));
      const done = steps.filter((s) => s.done).length;
      return c.json(
        {
          steps,
          done,
          total: steps.length,
          complete: done === steps.length,
          next: steps.find((s) => !s.done)?.id ?? null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/guide/status',
      ...access(deps, 'bots:read'),
      tags: ['guide'],
      summary: "The platform's health (database, Temporal, Redis, workers, voice), the fleet's, and what to look at",
      responses: {
        200: {
          description: 'Health',
          content: {
            'application/json': {
              schema: z.object({
                platform: z.object({
                  status: z.enum(['healthy', 'degraded', 'down']),
                  checks: z.record(z.string(), checkSchema),
                }),
                fleet: fleetHealthSchema,
                recommendations: z.array(recommendationSchema),
                generated_at: z.string().datetime(),
              }),
            },
          },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const p = c.get('principal')!;
      const [checks, g] = await Promise.all([platformChecks(deps, guide), glanceFor(p)]);
      const required = ['database', 'temporal', 'worker'];
      const down = Object.entries(checks).some(([name, v]) => !v.ok && required.includes(name));
      const degraded = Object.values(checks).some((v) => !v.ok);
      return c.json(
        {
          platform: {
            status: down ? ('down' as const) : degraded ? ('degraded' as const) : ('healthy' as const),
            checks,
          },
          fleet: assessFleet(g.counts, g.recommendations),
          recommendations: g.recommendations.slice(0, 3),
          generated_at: new Date().toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/guide/recommendations',
      ...access(deps, 'bots:read'),
      tags: ['guide'],
      summary:
        'Recommendations from the fleet’s state: crash loops and their log lines, memory near its limit, bots degraded for long, hangs, bots that keep exiting, critical incidents nobody acknowledged',
      description: 'Most severe first. Log lines appear in the evidence only for callers with bots:logs.',
      request: {
        query: z.object({
          bot_id: botIdSchema.optional().openapi({ description: 'Only about this bot' }),
          severity: z
            .enum(SEVERITY_ORDER)
            .optional()
            .openapi({ description: 'This severity and the more severe ones' }),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
      },
      responses: {
        200: {
          description: 'What to look at',
          content: {
            'application/json': {
              schema: z.object({
                generated_at: z.string().datetime(),
                recommendations: z.array(recommendationSchema),
                total: z.number().int(),
                stats: z.object({ critical: z.number().int(), warning: z.number().int(), info: z.number().int() }),
              }),
            },
          },
        },
        ...problems(422),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const withLogLines = c.get('principal')?.permissions.has('bots:logs') ?? false;
      const all = recommend(await gatherRecommendationInput(deps, withLogLines, q.bot_id));
      const upTo = q.severity ? SEVERITY_ORDER.indexOf(q.severity) : SEVERITY_ORDER.length - 1;
      const kept = all.filter((r) => SEVERITY_ORDER.indexOf(r.severity) <= upTo);
      const stats = { critical: 0, warning: 0, info: 0 };
      for (const r of all) stats[r.severity]++;
      return c.json(
        { generated_at: new Date().toISOString(), recommendations: kept.slice(0, q.limit), total: kept.length, stats },
        200,
      );
    },
  );
  return app;
}

/** Each dependency of the platform, checked now (each at most 3 s): what /guide/status shows. */
async function platformChecks(
  deps: AppDeps,
  guide: GuideDeps,
): Promise<Record<string, { ok: boolean; detail: string } & Record<string, unknown>>> {
  const timed = async (
    check: () => Promise<Record<string, unknown> & { detail?: string }>,
  ): Promise<{ ok: boolean; detail: string } & Record<string, unknown>> => {
    const t0 = performance.now();
    try {
      const result = await withTimeout(check(), 3_000);
      return { ok: true, detail: 'answers', ...result, latency_ms: Math.round(performance.now() - t0) };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  };
  const entries: Array<[string, Promise<{ ok: boolean; detail: string } & Record<string, unknown>>]> = [];
  for (const r of deps.readiness) entries.push([r.name, timed(r.check)]);
  if (!deps.readiness.some((r) => r.name === 'redis'))
    entries.push([
      'redis',
      Promise.resolve({
        ok: true,
        configured: false,
        detail: 'REDIS_URL is not set: figures, limits and events are kept in this process (one API process only)',
      }),
    ]);
  entries.push([
    'worker',
    timed(async () => {
      const pollers = await deps.workflows.workerPollers();
      if (pollers.length === 0)
        throw new Error(
          `no worker polls task queue ${deps.config.TEMPORAL_TASK_QUEUE}: bots' workflows make no progress. Start one (npm start, or npm run worker).`,
        );
      return { detail: `${pollers.length} polling ${deps.config.TEMPORAL_TASK_QUEUE}`, pollers: pollers.length };
    }),
  ]);
  const whyNoVoice = guide.voice?.unavailable() ?? null;
  entries.push([
    'voice',
    Promise.resolve(
      !guide.voice
        ? { ok: true, enabled: false, detail: 'switched off (ENABLE_VOICE_INPUT=false): typed commands only' }
        : whyNoVoice
          ? { ok: false, enabled: true, detail: whyNoVoice }
          : { ok: true, enabled: true, detail: 'speech recognition ready' },
    ),
  ]);
  return Object.fromEntries(await Promise.all(entries.map(async ([k, v]) => [k, await v] as const)));
}
