import { z } from '@hono/zod-openapi';
import { BOT_STATUSES, type BotStatus } from '../../lib/bot-status.js';
import type { Permission } from '../../lib/permissions.js';
import type { OnboardingFacts } from '../../registry/onboarding.js';
import type { Recommendation } from './recommendations.js';
import type { Principal } from '../auth/principal.js';

/** A request the guide suggests, exactly as it is sent. */
export const guideRequestSchema = z
  .object({
    method: z.enum(['GET', 'POST', 'PATCH', 'DELETE']),
    path: z.string(),
    body: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('GuideRequest');
export type GuideRequest = z.infer<typeof guideRequestSchema>;

export const guideStepSchema = z
  .object({
    id: z.string().openapi({ example: 'register_first_bot' }),
    title: z.string(),
    detail: z.string(),
    request: guideRequestSchema
      .nullable()
      .openapi({ description: 'The request that does it; null when nothing to send' }),
    console: z.string().nullable().openapi({ description: "The console's page for it", example: '/#/new-bot' }),
  })
  .openapi('GuideStep');
export type GuideStep = z.infer<typeof guideStepSchema>;

export const statusCountsSchema = z.object(
  Object.fromEntries(BOT_STATUSES.map((s) => [s, z.number().int()])) as Record<BotStatus, z.ZodNumber>,
);
export type StatusCounts = Record<BotStatus, number>;

export function statusCounts(byStatus: Record<string, number>): StatusCounts {
  return Object.fromEntries(BOT_STATUSES.map((s) => [s, byStatus[s] ?? 0])) as StatusCounts;
}

export const fleetHealthSchema = z
  .object({
    assessment: z.enum(['healthy', 'degraded', 'critical']),
    why: z.array(z.string()).openapi({ description: 'What made it so, worst first; empty when healthy' }),
    total: z.number().int(),
    by_status: statusCountsSchema,
  })
  .openapi('FleetHealth');
export type FleetHealth = z.infer<typeof fleetHealthSchema>;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** healthy, degraded or critical, and why: from the statuses and the recommendations of the moment. */
export function assessFleet(counts: StatusCounts, recommendations: readonly Recommendation[]): FleetHealth {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const critical: string[] = [];
  const degraded: string[] = [];
  if (counts.failed) critical.push(`${plural(counts.failed, 'bot')} failed and will not be restarted by the platform`);
  const criticalRecs = recommendations.filter((r) => r.severity === 'critical' && r.rule !== 'crash_loop');
  for (const r of criticalRecs.slice(0, 3)) critical.push(r.title);
  if (counts.healing) degraded.push(`${plural(counts.healing, 'bot')} healing (restarting after a failure)`);
  if (counts.degraded) degraded.push(`${plural(counts.degraded, 'bot')} degraded`);
  const warnings = recommendations.filter((r) => r.severity === 'warning');
  if (warnings.length) degraded.push(`${plural(warnings.length, 'warning')}: ${warnings[0]!.title}`);
  const why = [...critical, ...degraded];
  return {
    assessment: critical.length ? 'critical' : degraded.length ? 'degraded' : 'healthy',
    why,
    total,
    by_status: counts,
  };
}

/** What the guide's routes need beyond the dependency bag. */
export interface GuideDeps {
  /** Whether this caller may send that request (what its route declares). */
  mayRequest: (principal: Principal, request: GuideRequest) => boolean;
  /** Speech recognition on the command socket: null when switched off (ENABLE_VOICE_INPUT=false) or no socket is served. */
  voice: { unavailable(): string | null } | null;
}

/** A step is shown only to callers who may take it: what the route that the step's request calls asks for. */
export type MayRequest = (request: GuideRequest) => boolean;

export interface FleetGlance {
  counts: StatusCounts;
  byRole: Record<string, number>;
  /** Bots whose desired state is running. */
  desiredRunning: number;
  /** Bots that run an image (Kubernetes) rather than a blueprint. */
  images: number;
  /** A few bots, for requests that name one: the first registered, and the first stopped or registered one. */
  firstBot: string | null;
  idleBot: string | null;
  recommendations: readonly Recommendation[];
  openIncidents: number;
  facts: OnboardingFacts;
  permissions: ReadonlySet<Permission>;
  /** A runnable file under BOTS_DIR to suggest, when there is one. */
  blueprint: string | null;
}

const exampleBot = (blueprint: string | null) => ({
  id: 'hello-bot',
  name: 'Hello bot',
  role: 'example',
  blueprint: blueprint ?? 'analytics_bot.py',
});

/** What a caller can usefully do next, most useful first, fitted to their permissions and the fleet's state. */
export function nextSteps(g: FleetGlance, may: MayRequest, count = 3): GuideStep[] {
  const candidates: GuideStep[] = [];
  const total = Object.values(g.counts).reduce((a, b) => a + b, 0);
  for (const r of g.recommendations.filter((r) => r.severity !== 'info')) {
    const action = r.actions.find((a) => may(a));
    if (!action) continue;
    candidates.push({
      id: `recommendation:${r.id}`,
      title: r.title,
      detail: `${r.detail} Next: ${action.description.charAt(0).toLowerCase()}${action.description.slice(1)}.`,
      request: { method: action.method, path: action.path, ...(action.body ? { body: action.body } : {}) },
      console: `/#/bots/${encodeURIComponent(r.bot_id)}`,
    });
  }
  if (total === 0)
    candidates.push({
      id: 'register_first_bot',
      title: 'Register your first bot',
      detail:
        'A bot is a script under the bots directory (BOTS_DIR) or a container image. Register it once; its lifecycle is a Temporal workflow from then on.',
      request: { method: 'POST', path: '/api/v1/bots', body: exampleBot(g.blueprint) },
      console: '/#/new-bot',
    });
  if (g.idleBot)
    candidates.push({
      id: 'start_bot',
      title: `Start ${g.idleBot}`,
      detail:
        'It is registered but not running. Starting asks its workflow; the status turns running within a second or so.',
      request: { method: 'POST', path: `/api/v1/bots/${g.idleBot}/start` },
      console: `/#/bots/${encodeURIComponent(g.idleBot)}`,
    });
  if (g.openIncidents)
    candidates.push({
      id: 'review_incidents',
      title: `Review ${plural(g.openIncidents, 'open incident')}`,
      detail: 'Acknowledge what you are looking at, resolve what is fixed, so the others know.',
      request: { method: 'GET', path: '/api/v1/incidents?state=open' },
      console: '/#/incidents',
    });
  if (total > 0 && !g.facts.liveKeys.some((k) => keyCanDeploy(k)))
    candidates.push({
      id: 'mint_ci_key',
      title: 'Give your CI a key that can only deploy',
      detail:
        'CI deploys with POST /api/v1/deployments; a key minted with the "deployer" preset can upload builds, deploy, follow its deployments and read its bots, and nothing else (name its bots with "bots").',
      request: {
        method: 'POST',
        path: '/api/v1/api-keys',
        body: { name: 'ci', preset: 'deployer', expires_in_days: 90 },
      },
      console: null,
    });
  if (total > 0)
    candidates.push({
      id: 'watch_fleet',
      title: 'Watch the fleet',
      detail: 'Every bot with its status and figures; the console updates as things happen.',
      request: { method: 'GET', path: '/api/v1/bots' },
      console: '/#/fleet',
    });
  if (g.permissions.has('chat:ask'))
    candidates.push({
      id: 'ask_chat',
      title: 'Ask the chat',
      detail:
        'Type or say commands such as "status", "start <bot>" or "what is <bot> doing" in the console\'s chat, or over the command socket /ws/command/{your user id}.',
      request: null,
      console: '/#/chat',
    });
  candidates.push({
    id: 'read_docs',
    title: 'Read the API',
    detail: 'Every route with its permissions, fields and errors.',
    request: { method: 'GET', path: '/openapi.json' },
    console: '/docs',
  });
  const seen = new Set<string>();
  return candidates
    .filter((s) => (s.request === null || may(s.request)) && !seen.has(s.id) && seen.add(s.id))
    .slice(0, count);
}

export const onboardingStepSchema = guideStepSchema.extend({ done: z.boolean() }).openapi('OnboardingStep');
export type OnboardingStep = z.infer<typeof onboardingStepSchema>;

function keyCanDeploy(k: { role: string | null; permissions: string[] | null }): boolean {
  return (k.permissions ?? []).includes('deployments:create') && k.role === null;
}

/** The first-steps checklist, each step from what the platform actually holds. */
export function onboarding(g: FleetGlance): OnboardingStep[] {
  const f = g.facts;
  const bot = g.firstBot ?? 'hello-bot';
  const botPage = `/#/bots/${encodeURIComponent(bot)}`;
  return [
    {
      id: 'bot_registered',
      done: f.bots > 0,
      title: 'Register a bot',
      detail: 'A script under BOTS_DIR (Python, Node, shell or an executable), or an image for Kubernetes.',
      request: { method: 'POST', path: '/api/v1/bots', body: exampleBot(g.blueprint) },
      console: '/#/new-bot',
    },
    {
      id: 'bot_started',
      done: f.started,
      title: 'Start it',
      detail: 'The bot’s workflow launches it as its own user, watches it and heals it.',
      request: { method: 'POST', path: `/api/v1/bots/${bot}/start` },
      console: botPage,
    },
    {
      id: 'bot_running',
      done: f.ran,
      title: 'See it running',
      detail:
        'Its status turns running once it has launched (or, with heartbeat_interval_seconds, at its first heartbeat).',
      request: { method: 'GET', path: `/api/v1/bots/${bot}` },
      console: botPage,
    },
    {
      id: 'heartbeats',
      done: f.heartbeats,
      title: 'Send heartbeats from the bot (SDK)',
      detail:
        'Import bots/sdk/codex32.py or codex32.mjs; it posts heartbeats with the CODEX32_BOT_TOKEN the platform gives the bot, so a hang is seen and healed. Set heartbeat_interval_seconds on the bot.',
      request: { method: 'POST', path: '/api/v1/self/heartbeat', body: { requests: 10, errors: 0 } },
      console: null,
    },
    {
      id: 'incident_seen',
      done: f.incidents,
      title: 'See an incident',
      detail:
        'When a bot exits, hangs or outgrows its memory, the platform records an incident and heals the bot. Kill a bot’s process to see one.',
      request: { method: 'GET', path: '/api/v1/incidents' },
      console: '/#/incidents',
    },
    {
      id: 'ci_key_minted',
      done: f.liveKeys.some(keyCanDeploy),
      title: 'Mint a key for CI',
      detail:
        'A key with the "deployer" preset: CI can upload builds, deploy, follow its deployments and read its bots, nothing else.',
      request: {
        method: 'POST',
        path: '/api/v1/api-keys',
        body: { name: 'ci', preset: 'deployer', expires_in_days: 90 },
      },
      console: null,
    },
    {
      id: 'deployment_made',
      done: f.deployments,
      title: 'Deploy from CI',
      detail:
        'POST /api/v1/deployments with the key: a new revision runs through the health gate, and goes back to the last healthy one if it fails.',
      request: { method: 'POST', path: '/api/v1/deployments', body: { bot_id: bot, ref: 'v1.0.0' } },
      console: null,
    },
  ];
}
