import { REFUSALS, type Refusal, type RefusalDetails } from '../../workflows/messages.js';

const command = (botId: string, action: string) => `POST /api/v1/bots/${botId}/${action}`;

/** Why the bot's workflow refused a command, in words, with what to do instead. */
const WORDING: Record<Refusal, (botId: string, status: string) => string> = {
  being_deleted: (id) => `Bot ${id} is being deleted.`,
  already_running: (id, status) =>
    `Bot ${id} is already ${status}. Use ${command(id, 'restart')} to restart it, or stop it first.`,
  never_started: (id) => `Bot ${id} has never been started. Start it with ${command(id, 'start')}, or delete it.`,
  already_stopped: (id, status) =>
    `Bot ${id} is already ${status}. Start it with ${command(id, 'start')}, or delete it.`,
  not_running: (id, status) => `Bot ${id} is ${status}, not running. Start it with ${command(id, 'start')}.`,
  still_stopping: (id) =>
    `Bot ${id} is still stopping. Wait until GET /api/v1/bots/${id} shows it stopped, then delete it.`,
  stop_first: (id, status) => `Bot ${id} is ${status}. Stop it first with ${command(id, 'stop')}, then delete it.`,
};

/** The refusal's words, or null when `type` is not a refusal's code. */
export function refusalText(type: string | undefined, details: unknown, botId: string): string | null {
  if (!type || !(REFUSALS as readonly string[]).includes(type)) return null;
  const status = (details as Partial<RefusalDetails> | undefined)?.status ?? 'in another state';
  return WORDING[type as Refusal](botId, status);
}
