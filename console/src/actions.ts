import { api, problemWords } from './api/client';
import { notify } from './notices';

export type BotAction = 'start' | 'stop' | 'restart' | 'delete';
export const ACTION_PERMISSION: Record<BotAction, string> = {
  start: 'bots:operate',
  stop: 'bots:operate',
  restart: 'bots:operate',
  delete: 'bots:delete',
};

/** Asks the bot's workflow; says what it answered, or why it refused and what to do. Resolves to whether it was accepted. */
export async function runAction(botId: string, action: BotAction): Promise<boolean> {
  const params = { params: { path: { id: botId } } };
  const { data, error, response } =
    action === 'delete'
      ? await api.DELETE('/api/v1/bots/{id}', params)
      : action === 'start'
        ? await api.POST('/api/v1/bots/{id}/start', params)
        : action === 'stop'
          ? await api.POST('/api/v1/bots/{id}/stop', params)
          : await api.POST('/api/v1/bots/{id}/restart', params);
  if (data) {
    notify('ok', data.message);
    return true;
  }
  notify(
    response.status === 403 || response.status === 409 ? 'refused' : 'error',
    `${botId}: ${action} refused (${response.status}). ${problemWords(error)}`,
  );
  return false;
}
