import type { Permission } from '../lib/permissions.js';
import { duration } from '../lib/duration.js';
import { resolveBot, type NamedBot } from './bot-names.js';
import type { Answer, FleetAction, FleetApi } from './fleet-api.js';
import { parseIntent, type Action, type Intent } from './intents.js';

export type ServerMessage =
  | { type: 'reply'; text: string; data: Record<string, unknown> }
  | { type: 'confirm'; text: string; action: { action: Action; bot_id: string } }
  | { type: 'error'; text: string };

const HELP: Array<[FleetAction, string]> = [
  ['start', '"start analytics-v1" (also run, deploy, launch)'],
  ['stop', '"stop the echo bot" (also halt, shut down)'],
  ['restart', '"restart analytics" (also bounce, reboot)'],
  ['delete', '"delete echo" (asks to confirm)'],
  ['status', '"status" for the fleet, "status of echo" or "is echo running?" for one bot'],
  ['list', '"list bots"'],
  ['doing', '"what is analytics doing?": its figures, incidents and restarts'],
  ['logs', '"logs of echo", "last 50 lines of analytics logs"'],
  ['incidents', '"incidents", "incidents for echo"'],
  ['deploy_status', '"deploy status of analytics": its latest deployment, phase and last step'],
  ['rollback', '"roll back analytics" (asks to confirm): back to its last healthy revision, through the gate'],
];

const ORDINALS: Record<string, number> = {
  first: 0,
  '1': 0,
  one: 0,
  second: 1,
  '2': 1,
  two: 1,
  third: 2,
  '3': 2,
  three: 2,
  fourth: 3,
  '4': 3,
  four: 3,
  fifth: 4,
  '5': 4,
  five: 4,
};

const VERBING: Record<string, string> = {
  start: 'start',
  stop: 'stop',
  restart: 'restart',
  delete: 'delete',
  rollback: 'roll back',
};

/**
 * One conversation: parses what the person says, asks back when a bot name
 * fits several bots, asks for confirmation before what cannot be undone (and
 * before anything spoken that stops or restarts: "start" and "stop" sound
 * alike), and carries commands out through the REST API with the caller's
 * own credentials.
 */
export class Conversation {
  /** A command waiting for yes or no. */
  private pending: { intent: Intent; botId: string } | null = null;
  /** A command waiting for the person to say which bot. */
  private choosing: { intent: Intent; spoken: boolean; candidates: NamedBot[] } | null = null;

  constructor(
    private readonly api: FleetApi,
    private readonly permissions: ReadonlySet<Permission>,
  ) {}

  async say(text: string, opts: { spoken?: boolean } = {}): Promise<ServerMessage> {
    const spoken = opts.spoken ?? false;
    if (this.choosing) {
      const choice = this.choice(text);
      if (choice) {
        const { intent, spoken: wasSpoken } = this.choosing;
        this.choosing = null;
        return this.withBot(intent, choice, wasSpoken || spoken);
      }
    }
    const intent = parseIntent(text);
    if (!intent) {
      return {
        type: 'reply',
        text: `I did not understand "${text.trim().slice(0, 200)}". Say "help" for what you can ask.`,
        data: { understood: false },
      };
    }
    if (intent.action !== 'confirm' && intent.action !== 'cancel') this.choosing = null;
    switch (intent.action) {
      case 'confirm':
        return this.confirm();
      case 'cancel':
        return this.cancel();
      case 'help':
        return this.help();
      default:
        return this.command(intent, spoken);
    }
  }

  /** The bots this user may see, by id and name (what names can refer to), or the refusal. */
  knownBots(): Promise<Answer<NamedBot[]>> {
    return this.api.botNames();
  }

  private choice(text: string): NamedBot | null {
    const candidates = this.choosing!.candidates;
    const words = text
      .toLowerCase()
      .replace(/[^a-z0-9\s-]/g, ' ')
      .split(/\s+/)
      .filter(Boolean);
    for (const w of words) if (ORDINALS[w] !== undefined && candidates[ORDINALS[w]!]) return candidates[ORDINALS[w]!]!;
    const r = resolveBot(text, candidates);
    return r.kind === 'one' ? r.bot : null;
  }

  private async command(intent: Intent, spoken: boolean): Promise<ServerMessage> {
    // Checked before asking anything, so a refusal comes first and nothing happens.
    const action = intent.action as FleetAction;
    const needs = this.api.needs(action);
    if (!this.permissions.has(needs)) {
      return {
        type: 'reply',
        text: `You may not ${describe(action)}: that needs the ${needs} permission, which your role does not have. Nothing was done.`,
        data: { refused: true, action, needs },
      };
    }
    if (!intent.bot) {
      if (action === 'status' || action === 'list' || action === 'incidents') return this.run(intent, null);
      return {
        type: 'reply',
        text: `Which bot should I ${VERBING[action] ?? 'look at'}? Say, for example, "${action} analytics-v1".`,
        data: { understood: true, action, missing: 'bot' },
      };
    }
    const answer = await this.knownBots();
    if (!answer.ok) return this.failed(answer);
    const known = answer.value;
    const found = resolveBot(intent.bot, known);
    if (found.kind === 'none') {
      const some = known.slice(0, 10).map((b) => b.id);
      return {
        type: 'reply',
        text: `I know no bot called "${intent.bot}".${some.length ? ` Bots: ${some.join(', ')}${known.length > some.length ? ', …' : ''}.` : ' There are no bots yet.'}`,
        data: { understood: true, action, unknown_bot: intent.bot },
      };
    }
    if (found.kind === 'many') {
      this.choosing = { intent, spoken, candidates: found.candidates.slice(0, 5) };
      const list = this.choosing.candidates
        .map((b, i) => `${i + 1}. ${b.id}${b.name && b.name !== b.id ? ` (${b.name})` : ''}`)
        .join('; ');
      return {
        type: 'reply',
        text: `Several bots fit "${intent.bot}": ${list}. Which one?`,
        data: { understood: true, action, choices: this.choosing.candidates.map((b) => b.id) },
      };
    }
    return this.withBot(intent, found.bot, spoken);
  }

  private async withBot(intent: Intent, bot: NamedBot, spoken: boolean): Promise<ServerMessage> {
    const destructive =
      intent.action === 'delete' ||
      intent.action === 'rollback' ||
      (spoken && (intent.action === 'stop' || intent.action === 'restart'));
    if (destructive) {
      this.pending = { intent, botId: bot.id };
      return {
        type: 'confirm',
        text: `${capitalize(VERBING[intent.action]!)} ${bot.id}${bot.name && bot.name !== bot.id ? ` (${bot.name})` : ''}? Say yes to go ahead, or no.`,
        action: { action: intent.action, bot_id: bot.id },
      };
    }
    return this.run(intent, bot.id);
  }

  private async confirm(): Promise<ServerMessage> {
    if (!this.pending)
      return {
        type: 'reply',
        text: 'There is nothing waiting for a yes.',
        data: { understood: true, action: 'confirm', pending: null },
      };
    const { intent, botId } = this.pending;
    this.pending = null;
    return this.run(intent, botId);
  }

  private cancel(): ServerMessage {
    const pending = this.pending;
    this.pending = null;
    this.choosing = null;
    if (!pending)
      return {
        type: 'reply',
        text: 'Nothing to cancel.',
        data: { understood: true, action: 'cancel', cancelled: null },
      };
    return {
      type: 'reply',
      text: `Cancelled: ${pending.botId} was not ${pastTense(pending.intent.action)}. Nothing was done.`,
      data: { understood: true, action: 'cancel', cancelled: { action: pending.intent.action, bot_id: pending.botId } },
    };
  }

  private help(): ServerMessage {
    const allowed = HELP.filter(([action]) => this.permissions.has(this.api.needs(action)));
    const lines = allowed.map(([, example]) => `- ${example}`);
    const text = allowed.length
      ? `You can ask:\n${lines.join('\n')}\nBots can be named loosely ("the analytics bot"). Say yes or no when asked to confirm.`
      : 'Your role cannot run any bot command here.';
    return {
      type: 'reply',
      text,
      data: { understood: true, action: 'help', commands: allowed.map(([action]) => action) },
    };
  }

  /** Carries the command out: one REST call, and its answer in words. */
  private async run(intent: Intent, botId: string | null): Promise<ServerMessage> {
    const action = intent.action;
    const data = (extra: Record<string, unknown>) => ({ understood: true, action, bot_id: botId, ...extra });
    switch (action) {
      case 'start':
      case 'stop':
      case 'restart': {
        const r = await this.api.command(botId!, action);
        if (!r.ok) return this.failed(r, action, botId);
        return { type: 'reply', text: r.value.message, data: data({ result: r.value }) };
      }
      case 'delete': {
        const r = await this.api.remove(botId!);
        if (!r.ok) return this.failed(r, action, botId);
        return { type: 'reply', text: `Deleted ${botId}.`, data: data({ result: r.value }) };
      }
      case 'status': {
        if (!botId) {
          const r = await this.api.fleet();
          if (!r.ok) return this.failed(r, action, null);
          const { total, stats, bots } = r.value;
          const counts = Object.entries(stats)
            .filter(([, n]) => n > 0)
            .map(([s, n]) => `${n} ${s}`);
          const troubled = bots.filter(
            (b) => b.status === 'failed' || b.status === 'degraded' || b.status === 'healing',
          );
          const text =
            total === 0
              ? 'There are no bots yet.'
              : `${total} bots: ${counts.join(', ')}.${
                  troubled.length
                    ? ` Needing attention: ${troubled
                        .slice(0, 10)
                        .map((b) => `${b.bot_id} (${b.status})`)
                        .join(', ')}.`
                    : ''
                }`;
          return { type: 'reply', text, data: data({ total, stats }) };
        }
        const r = await this.api.bot(botId);
        if (!r.ok) return this.failed(r, action, botId);
        const b = r.value;
        const figures =
          b.pid !== null
            ? ` (pid ${b.pid}${b.uptime_seconds !== null ? `, up ${duration(b.uptime_seconds)}` : ''}${b.cpu_load !== null ? `, CPU ${b.cpu_load}%` : ''}${b.memory_usage_mb !== null ? `, ${b.memory_usage_mb} MB` : ''})`
            : '';
        return {
          type: 'reply',
          text: `${b.bot_id} is ${b.status}${figures}${b.status_reason ? `: ${b.status_reason}` : ''}.`,
          data: data({ bot: b }),
        };
      }
      case 'list': {
        const r = await this.api.fleet();
        if (!r.ok) return this.failed(r, action, null);
        const { bots, total } = r.value;
        const text = bots.length
          ? `${total} bots: ${bots
              .slice(0, 50)
              .map((b) => `${b.bot_id} (${b.status})`)
              .join(', ')}${bots.length > 50 ? ', …' : ''}.`
          : 'There are no bots yet.';
        return {
          type: 'reply',
          text,
          data: data({ bots: bots.map((b) => ({ bot_id: b.bot_id, status: b.status })), total }),
        };
      }
      case 'logs': {
        const tail = Math.min(Math.max(intent.lines ?? 20, 1), 500);
        const r = await this.api.logs(botId!, tail);
        if (!r.ok) return this.failed(r, action, botId);
        const { lines } = r.value;
        return {
          type: 'reply',
          text: lines.length
            ? `Last ${lines.length} lines of ${botId}:\n${lines.join('\n')}`
            : `${botId} has written nothing yet.`,
          data: data({ lines }),
        };
      }
      case 'incidents': {
        const r = await this.api.incidents(botId, 5);
        if (!r.ok) return this.failed(r, action, botId);
        const { incidents: list, total } = r.value;
        const whose = botId ? ` of ${botId}` : '';
        const text = list.length
          ? `${total} incidents${whose}; the latest: ${list.map((i) => `${i.created_at.slice(11, 19)} ${i.kind} (${i.state}): ${i.message}`).join('; ')}.`
          : `No incidents${whose}.`;
        return { type: 'reply', text, data: data({ incidents: list, total }) };
      }
      case 'doing': {
        const r = await this.api.knowledge(botId!);
        if (!r.ok) return this.failed(r, action, botId);
        return { type: 'reply', text: r.value.summary, data: data({ knowledge: r.value }) };
      }
      case 'deploy_status': {
        const r = await this.api.deployments(botId!, 1);
        if (!r.ok) return this.failed(r, action, botId);
        const [d] = r.value.deployments;
        if (!d) return { type: 'reply', text: `${botId} has no deployment yet.`, data: data({ deployment: null }) };
        const last = d.steps.at(-1);
        const what = d.ref ?? `revision ${d.revision}`;
        const text = `The latest deployment of ${botId} (${what}, ${d.created_at.slice(0, 16).replace('T', ' ')}) is ${d.phase.replace('_', ' ')}${
          last ? `: ${last.detail}` : ''
        }.${d.reason && !last?.detail.includes(d.reason) ? ` Why: ${d.reason}.` : ''}`;
        return { type: 'reply', text, data: data({ deployment: d }) };
      }
      case 'rollback': {
        const r = await this.api.rollback(botId!);
        if (!r.ok) return this.failed(r, action, botId);
        return { type: 'reply', text: r.value.message, data: data({ deployment: r.value }) };
      }
      default:
        return { type: 'error', text: `Cannot run "${action}".` };
    }
  }

  /** A refusal or failure from the API, in words: its own detail says what to do. */
  private failed(r: { status: number; detail: string }, action?: Action, botId?: string | null): ServerMessage {
    const { detail } = r;
    if (r.status === 403)
      return {
        type: 'reply',
        text: `You may not do that: ${detail} Nothing was done.`,
        data: { refused: true, action, bot_id: botId ?? null, status: r.status },
      };
    if (r.status === 409 || r.status === 404 || r.status === 422)
      return {
        type: 'reply',
        text: detail,
        data: { understood: true, action, bot_id: botId ?? null, status: r.status, done: false },
      };
    return { type: 'error', text: `That did not work (${r.status}): ${detail}` };
  }
}

function describe(action: Action): string {
  return (
    {
      start: 'start bots',
      stop: 'stop bots',
      restart: 'restart bots',
      delete: 'delete bots',
      status: 'read bot status',
      list: 'list bots',
      doing: 'read what bots are doing',
      logs: "read bots' logs",
      incidents: 'read incidents',
      deploy_status: 'read deployments',
      rollback: 'roll bots back',
    }[action as string] ?? action
  );
}

function pastTense(action: Action): string {
  return (
    { stop: 'stopped', restart: 'restarted', delete: 'deleted', start: 'started', rollback: 'rolled back' }[
      action as string
    ] ?? action
  );
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
