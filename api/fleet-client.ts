import type { z } from '@hono/zod-openapi';
import type { BotView } from '../lib/bot-spec.js';
import type { BotStatus } from '../lib/bot-status.js';
import type { Permission } from '../lib/permissions.js';
import type { Answer, FleetAction, FleetApi } from '../conversation/fleet-api.js';
import type { NamedBot } from '../conversation/bot-names.js';
import type { Access } from './middleware/access.js';
import type { incidentSchema } from './views/incident.js';
import type { knowledgeSchema } from './views/knowledge.js';
import type { DeploymentView } from './views/deployment.js';
import type { Problem } from './views/problem.js';

type Method = 'GET' | 'POST' | 'DELETE';

/** The route each chat action calls. */
const ROUTES: Record<FleetAction, [Method, string]> = {
  start: ['POST', '/api/v1/bots/{id}/start'],
  stop: ['POST', '/api/v1/bots/{id}/stop'],
  restart: ['POST', '/api/v1/bots/{id}/restart'],
  delete: ['DELETE', '/api/v1/bots/{id}'],
  status: ['GET', '/api/v1/bots/{id}'],
  list: ['GET', '/api/v1/bots'],
  doing: ['GET', '/api/v1/bots/{id}/knowledge'],
  logs: ['GET', '/api/v1/bots/{id}/logs'],
  incidents: ['GET', '/api/v1/incidents'],
  deploy_status: ['GET', '/api/v1/deployments'],
  rollback: ['POST', '/api/v1/bots/{id}/rollback'],
};

export interface FleetClientOptions {
  /** One request to this API's app, with the caller's credentials (in-process: the routes' validation, RBAC, limits and audit). */
  request(method: Method, path: string): Promise<Response>;
  /** What a route asks of its caller, from its declaration. */
  accessOf(method: Method, path: string): Access | undefined;
  /** The caller's permissions now (a renewed token may change them). */
  permissions: ReadonlySet<Permission>;
  /** Every bot by id and name, straight from the registry: cheap, for any number of bots. */
  botNames(): Promise<NamedBot[]>;
}

/**
 * The chat's one client of this API: typed paths and answers (the types of
 * the routes' own zod schemas), and the permissions of the routes it calls.
 */
export function createFleetClient(opts: FleetClientOptions): FleetApi {
  const needs = (action: FleetAction): Permission => {
    const [method, path] = ROUTES[action];
    const access = opts.accessOf(method, path);
    if (access === undefined || access === 'public' || access === 'signed-in' || access === 'bot-self') {
      throw new Error(`the route ${method} ${path} that "${action}" calls declares no permission`);
    }
    return access;
  };

  async function call<T>(
    action: FleetAction,
    expected: number,
    params: { id?: string; query?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const [method, template] = ROUTES[action];
    let path = template.replace('{id}', encodeURIComponent(params.id ?? ''));
    if (params.query) path += `?${new URLSearchParams(params.query).toString()}`;
    const res = await opts.request(method, path);
    const body: unknown = res.headers.get('Content-Type')?.includes('json') ? await res.json() : null;
    if (res.status === expected) return { ok: true, value: body as T };
    const detail = (body as Partial<Problem> | null)?.detail ?? `the API answered ${res.status}`;
    return { ok: false, status: res.status, detail };
  }

  return {
    needs,
    async botNames() {
      // The same permission as listing the bots, checked here: the names come from the registry, not through the route.
      const need = needs('list');
      if (!opts.permissions.has(need)) {
        return {
          ok: false,
          status: 403,
          detail: `Your access does not include "${need}". Ask an administrator for it.`,
        };
      }
      return { ok: true, value: await opts.botNames() };
    },
    bot: (id) => call<BotView>('status', 200, { id }),
    fleet: () =>
      call<{ total: number; stats: Record<BotStatus, number>; bots: BotView[] }>('list', 200, {
        query: { limit: '1000' },
      }),
    command: (id, action) => call<{ message: string }>(action, 202, { id }),
    remove: (id) => call<{ bot_id: string }>('delete', 200, { id }),
    logs: (id, tail) => call<{ lines: string[] }>('logs', 200, { id, query: { tail: String(tail) } }),
    incidents: (botId, limit) =>
      call<{ total: number; incidents: Array<z.infer<typeof incidentSchema>> }>('incidents', 200, {
        query: { limit: String(limit), ...(botId ? { bot_id: botId } : {}) },
      }),
    knowledge: (id) => call<z.infer<typeof knowledgeSchema>>('doing', 200, { id, query: { window: '15m' } }),
    deployments: (botId, limit) =>
      call<{ deployments: DeploymentView[] }>('deploy_status', 200, {
        query: { bot_id: botId, limit: String(limit) },
      }),
    rollback: (id) => call<DeploymentView & { message: string }>('rollback', 202, { id }),
  };
}
