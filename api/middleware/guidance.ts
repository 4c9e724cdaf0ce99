import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Permission } from '../../lib/permissions.js';
import type { AppEnv } from '../env.js';

type Body = Record<string, unknown>;
type Step = { text: string; needs?: Permission };
interface Guide {
  message?: (body: Body) => string;
  steps: (body: Body, status: number) => Step[];
  /** Lists: what the query string can do, and counts over the page when the route has none of its own. */
  help?: string;
  stats?: (body: Body) => Record<string, number>;
}

const text = (v: unknown, fallback = '') => (typeof v === 'string' || typeof v === 'number' ? String(v) : fallback);
const bot = (body: Body) => text(body.bot_id);
const countBy = (items: unknown, key: string) => {
  const out: Record<string, number> = {};
  for (const item of Array.isArray(items) ? (items as Body[]) : []) {
    const value = text(item[key], 'unknown');
    out[value] = (out[value] ?? 0) + 1;
  }
  return out;
};

/** What a bot in this state lets an operator do next. */
function botSteps(body: Body): Step[] {
  const id = bot(body);
  const status = text(body.status);
  const base = `/api/v1/bots/${id}`;
  switch (status) {
    case 'registered':
    case 'stopped':
      return [
        { text: `Start it: POST ${base}/start`, needs: 'bots:operate' },
        { text: `Change it: PATCH ${base}`, needs: 'bots:update' },
        { text: `Delete it: DELETE ${base}`, needs: 'bots:delete' },
      ];
    case 'failed':
      return [
        { text: `Read why: GET /api/v1/incidents?bot_id=${id}`, needs: 'incidents:read' },
        { text: `Fix the cause (PATCH ${base}), then start it again: POST ${base}/start`, needs: 'bots:operate' },
      ];
    case 'healing':
      return [
        { text: `See what happened: GET /api/v1/incidents?bot_id=${id}`, needs: 'incidents:read' },
        { text: `Cancel the pending restart: POST ${base}/stop`, needs: 'bots:operate' },
      ];
    case 'deploying':
    case 'stopping':
      return [{ text: `Follow the change: GET ${base}` }];
    default:
      return [
        { text: `Follow its figures: GET ${base}` },
        { text: `Restart it: POST ${base}/restart`, needs: 'bots:operate' },
        { text: `Stop it: POST ${base}/stop`, needs: 'bots:operate' },
      ];
  }
}

/** What to do with an incident in its state. */
function incidentSteps(body: Body): Step[] {
  const id = text(body.id);
  const steps: Step[] = [
    { text: `The bot: GET /api/v1/bots/${bot(body)}`, needs: 'bots:read' },
    { text: `Its output: GET /api/v1/bots/${bot(body)}/logs`, needs: 'bots:logs' },
  ];
  if (body.state === 'open')
    steps.push({ text: `Acknowledge it: POST /api/v1/incidents/${id}/acknowledge`, needs: 'incidents:manage' });
  if (body.state !== 'resolved')
    steps.push({
      text: `Resolve it, saying what was done: POST /api/v1/incidents/${id}/resolve {"resolution": "..."}`,
      needs: 'incidents:manage',
    });
  return steps;
}

const guides: Record<string, Guide> = {
  'POST /api/v1/bots': { steps: botSteps },
  'GET /api/v1/bots/:id': { message: (b) => `Bot ${bot(b)} is ${text(b.status)}.`, steps: botSteps },
  'PATCH /api/v1/bots/:id': { steps: botSteps },
  'DELETE /api/v1/bots/:id': {
    steps: () => [
      { text: 'See the fleet: GET /api/v1/bots' },
      { text: 'Register a bot: POST /api/v1/bots', needs: 'bots:create' },
    ],
  },
  'POST /api/v1/bots/:id/start': { steps: (b) => [{ text: `Watch it come up: GET /api/v1/bots/${bot(b)}` }] },
  'POST /api/v1/bots/:id/restart': { steps: (b) => [{ text: `Watch it come back: GET /api/v1/bots/${bot(b)}` }] },
  'POST /api/v1/bots/:id/stop': { steps: (b) => [{ text: `Watch it stop: GET /api/v1/bots/${bot(b)}` }] },
  'GET /api/v1/bots': {
    message: (b) => `${text(b.total)} bot(s); this page shows ${Array.isArray(b.bots) ? b.bots.length : 0}.`,
    help: 'Filter with ?status=running|failed|… and ?role=…; page with ?limit= (1-1000, default 50) and ?offset=.',
    steps: (b) => {
      const stats = (b.stats ?? {}) as Record<string, number>;
      const steps: Step[] = [];
      if ((stats.failed ?? 0) > 0)
        steps.push({
          text: `${stats.failed} bot(s) failed: GET /api/v1/bots?status=failed, then their incidents`,
          needs: 'incidents:read',
        });
      if ((stats.healing ?? 0) > 0)
        steps.push({ text: `${stats.healing} bot(s) healing: GET /api/v1/bots?status=healing` });
      steps.push({ text: 'Register a bot: POST /api/v1/bots', needs: 'bots:create' });
      return steps;
    },
  },
  'GET /api/v1/incidents': {
    message: (b) =>
      `${text(b.total)} incident(s); this page shows ${Array.isArray(b.incidents) ? b.incidents.length : 0}.`,
    help: 'Filter with ?bot_id=, ?kind=, ?severity=info|warning|critical, ?state=open|acknowledged|resolved, ?since= and ?until= (ISO 8601); page with ?limit= (1-1000, default 100) and ?offset=.',
    stats: (b) => countBy(b.incidents, 'kind'),
    steps: () => [
      { text: 'Only what nobody has looked at: GET /api/v1/incidents?state=open' },
      { text: 'Acknowledge one: POST /api/v1/incidents/{id}/acknowledge', needs: 'incidents:manage' },
    ],
  },
  'GET /api/v1/incidents/:id': {
    message: (b) => `Incident ${text(b.id)} (${text(b.kind)}, ${text(b.severity)}) is ${text(b.state)}.`,
    steps: incidentSteps,
  },
  'POST /api/v1/incidents/:id/acknowledge': {
    message: (b) => `Incident ${text(b.id)} acknowledged.`,
    steps: incidentSteps,
  },
  'POST /api/v1/incidents/:id/resolve': { message: (b) => `Incident ${text(b.id)} resolved.`, steps: incidentSteps },
  'GET /api/v1/bots/:id/history': {
    message: (b) =>
      `${Array.isArray(b.samples) ? b.samples.length : 0} point(s) of bot ${bot(b)}'s figures over ${text(b.window)}.`,
    help: 'Choose the window with ?window= (10s to the retention, e.g. 15m, 6h, 7d): recent points are single samples, older ones per-minute rollups.',
    stats: (b) => {
      const points = Array.isArray(b.samples) ? (b.samples as Body[]) : [];
      const max = (key: string) => points.reduce((m, p) => Math.max(m, Number(p[key]) || 0), 0);
      return { points: points.length, cpu_max: max('cpu_max'), memory_max_mb: max('memory_max_mb') };
    },
    steps: (b) => [{ text: `Its output: GET /api/v1/bots/${bot(b)}/logs`, needs: 'bots:logs' }],
  },
  'GET /api/v1/bots/:id/logs': {
    message: (b) => `The last ${text(b.count)} line(s) of bot ${bot(b)}'s output.`,
    steps: (b) => [
      { text: `More lines: GET /api/v1/bots/${bot(b)}/logs?tail=1000` },
      { text: `Its incidents: GET /api/v1/incidents?bot_id=${bot(b)}`, needs: 'incidents:read' },
    ],
  },
  'POST /api/v1/deployments': {
    steps: (b) => [
      { text: `Wait for the outcome: GET /api/v1/deployments/${text(b.id)}?wait=60`, needs: 'deployments:read' },
      { text: `Its steps as they happen: GET /api/v1/deployments/${text(b.id)}/events`, needs: 'deployments:read' },
      { text: `Watch the bot come up on the new revision: GET /api/v1/bots/${bot(b)}`, needs: 'bots:read' },
      { text: `If it does not stay up, read why: GET /api/v1/incidents?bot_id=${bot(b)}`, needs: 'incidents:read' },
    ],
  },
  'GET /api/v1/deployments': {
    message: (b) =>
      `${text(b.total)} deployment(s); this page shows ${Array.isArray(b.deployments) ? b.deployments.length : 0}.`,
    help: 'Filter with ?bot_id= and ?phase=; page with ?limit= (1-1000, default 50) and ?offset=.',
    stats: (b) => countBy(b.deployments, 'phase'),
    steps: () => [
      {
        text: 'Deploy a build: POST /api/v1/deployments {"bot_id": ..., "ref": ..., "artifact" + "entrypoint", "blueprint" or "image": ...}',
        needs: 'deployments:create',
      },
    ],
  },
  'GET /api/v1/deployments/:id': {
    message: (b) =>
      `Deployment of ${text(b.ref, `revision ${text(b.revision)}`)} to bot ${bot(b)}: ${text(b.phase)}${b.reason ? ` (${text(b.reason)})` : ''}.`,
    steps: (b) => [
      { text: `See the bot: GET /api/v1/bots/${bot(b)}`, needs: 'bots:read' },
      { text: `Its revisions: GET /api/v1/bots/${bot(b)}/revisions`, needs: 'bots:read' },
    ],
  },
  'GET /api/v1/users': {
    message: (b) => `${text(b.total)} user(s).`,
    help: 'Create with POST /api/v1/users; change a role, disable or reset a password with PATCH /api/v1/users/{username}.',
    stats: (b) => countBy(b.users, 'role'),
    steps: () => [{ text: 'Create a user: POST /api/v1/users', needs: 'users:manage' }],
  },
  'GET /api/v1/api-keys': {
    message: (b) => `${text(b.total)} API key(s).`,
    help: 'Mint with POST /api/v1/api-keys (a role, permissions, or the preset "deployer" for CI, limited with "bots"); revoke with DELETE /api/v1/api-keys/{id}.',
    stats: (b) => ({
      active: (Array.isArray(b.api_keys) ? (b.api_keys as Body[]) : []).filter((k) => k.revoked_at === null).length,
    }),
    steps: () => [{ text: 'Mint a key: POST /api/v1/api-keys', needs: 'api-keys:manage' }],
  },
  'GET /api/v1/audit': {
    message: (b) => `${text(b.total)} audit entr${b.total === 1 ? 'y' : 'ies'}.`,
    help: 'Filter with ?actor=, ?action= (e.g. "POST /api/v1/bots/:id/start"), ?target=, ?result=ok|denied|refused|error, ?since=, ?until=.',
    stats: (b) => countBy(b.entries, 'result'),
    steps: () => [{ text: 'Refusals only: GET /api/v1/audit?result=denied' }],
  },
};

const problemSteps: Record<number, string[]> = {
  401: ['Log in: POST /api/v1/auth/login, then send "Authorization: Bearer <access_token>"'],
  403: ['See what you may do: GET /api/v1/auth/permissions'],
  404: ['List what exists: GET /api/v1/bots', 'The API is described at /docs'],
  422: ['Fix the fields listed in "errors"; the schema is at /openapi.json'],
  429: ['Wait the Retry-After seconds, then try again'],
  503: ['Check GET /health/ready, then retry'],
};

/** Next steps for a problem response, by status. */
export function problemNextSteps(status: number): string[] {
  return problemSteps[status] ?? ['Quote the request_id when asking for help'];
}

/**
 * The guided-response layer, in one place: every JSON answer under /api/v1
 * gets a `message` (kept when the route wrote one) and `next_steps` for this
 * caller (steps needing a permission the caller lacks are left out); lists
 * also get `stats` and `help`. It wraps `c.json` for the request, so bodies
 * are enriched before they are serialised, not parsed back afterwards.
 * Problems get their next steps where they are built (problem.ts).
 */
export function guidedResponses(): MiddlewareHandler<AppEnv> {
  return async function guidedResponsesHandler(c, next) {
    if (!c.req.path.startsWith('/api/v1/')) return next();
    const json = c.json.bind(c) as (...args: unknown[]) => Response;
    (c as unknown as { json: (...args: unknown[]) => Response }).json = (value: unknown, ...rest: unknown[]) => {
      if (value && typeof value === 'object' && !Array.isArray(value))
        enrich(c, value as Body, typeof rest[0] === 'number' ? rest[0] : 200);
      return json(value, ...rest);
    };
    await next();
  };
}

function enrich(c: Parameters<MiddlewareHandler<AppEnv>>[0], b: Body, status: number): void {
  const principal = c.get('principal');
  const allowed = (s: Step) => !s.needs || !principal || principal.permissions.has(s.needs);
  const guide = guides[`${c.req.method} ${routePath(c, -1)}`];
  if (guide) {
    if (b.message === undefined && guide.message) b.message = guide.message(b);
    b.next_steps = guide
      .steps(b, status)
      .filter(allowed)
      .map((s) => s.text);
    if (guide.help) b.help = guide.help;
    if (guide.stats && b.stats === undefined) b.stats = guide.stats(b);
  }
  b.message ??= 'OK';
  b.next_steps ??= [];
}

/**
 * The OpenAPI side of the same layer: every JSON success under /api/v1 is
 * documented as its route's schema plus the guided fields, in one place.
 */
export function withGuidedFields<T>(document: T): T {
  const doc = document as {
    paths?: Record<
      string,
      Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>
    >;
    components?: { schemas?: Record<string, unknown> };
  };
  doc.components ??= {};
  doc.components.schemas ??= {};
  doc.components.schemas.Guidance = {
    type: 'object',
    properties: {
      message: { type: 'string', description: 'What happened, in a sentence' },
      next_steps: {
        type: 'array',
        items: { type: 'string' },
        description: 'What this caller can do next (steps needing a permission it lacks are left out)',
      },
      help: { type: 'string', description: 'Lists: how to filter and page' },
      stats: {
        type: 'object',
        additionalProperties: { type: 'number' },
        description: 'Lists: counts over the fleet or the page',
      },
    },
    required: ['message', 'next_steps'],
  };
  for (const [path, operations] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith('/api/v1/')) continue;
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const media = response.content?.['application/json'];
        if (!status.startsWith('2') || !media?.schema) continue;
        media.schema = { allOf: [media.schema, { $ref: '#/components/schemas/Guidance' }] };
      }
    }
  }
  return document;
}
