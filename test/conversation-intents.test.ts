import { describe, expect, it } from 'vitest';
import { resolveBot } from '../conversation/bot-names.js';
import { parseIntent, spokenToId } from '../conversation/intents.js';

describe('commands in natural phrasing', () => {
  it.each([
    ['Run bot analytics-v1', { action: 'start', bot: 'analytics-v1' }],
    ['start the analytics bot', { action: 'start', bot: 'analytics' }],
    ['Deploy weather bot, please', { action: 'start', bot: 'weather' }],
    ['spin up echo', { action: 'start', bot: 'echo' }],
    ['please stop echo', { action: 'stop', bot: 'echo' }],
    ['shut down analytics', { action: 'stop', bot: 'analytics' }],
    ['restart analytics v one', { action: 'restart', bot: 'analytics v one' }],
    ['bounce the echo bot', { action: 'restart', bot: 'echo' }],
    ['delete the echo bot', { action: 'delete', bot: 'echo' }],
    ['status', { action: 'status', bot: null }],
    ['status of all bots', { action: 'status', bot: null }],
    ['How are the bots?', { action: 'status', bot: null }],
    ['status of analytics', { action: 'status', bot: 'analytics' }],
    ['how is the echo bot', { action: 'status', bot: 'echo' }],
    ['is analytics running?', { action: 'status', bot: 'analytics' }],
    ['What is the analytics bot doing?', { action: 'doing', bot: 'analytics' }],
    ["what's echo doing", { action: 'doing', bot: 'echo' }],
    ['tell me about echo', { action: 'doing', bot: 'echo' }],
    ['list bots', { action: 'list', bot: null }],
    ['show me all bots', { action: 'list', bot: null }],
    ['which bots are there', { action: 'list', bot: null }],
    ['logs for echo', { action: 'logs', bot: 'echo' }],
    ['show the last 50 lines of the analytics logs', { action: 'logs', bot: 'analytics', lines: 50 }],
    ['logs of echo, last twenty lines', { action: 'logs', bot: 'echo', lines: 20 }],
    ['incidents', { action: 'incidents', bot: null }],
    ['incidents for echo', { action: 'incidents', bot: 'echo' }],
    ['what went wrong with echo', { action: 'incidents', bot: 'echo' }],
    ['deploy status of analytics', { action: 'deploy_status', bot: 'analytics' }],
    ["what's the deployment status of echo?", { action: 'deploy_status', bot: 'echo' }],
    ['how is the deployment of the weather bot going', { action: 'deploy_status', bot: 'weather' }],
    ['is the deploy of echo done?', { action: 'deploy_status', bot: 'echo' }],
    ['roll back analytics', { action: 'rollback', bot: 'analytics' }],
    ['Please roll back the echo bot to the previous version', { action: 'rollback', bot: 'echo' }],
    ['rollback weather v two', { action: 'rollback', bot: 'weather v two' }],
    ['revert echo to the last good build', { action: 'rollback', bot: 'echo' }],
    ['help', { action: 'help', bot: null }],
    ['What can I do?', { action: 'help', bot: null }],
    ['yes', { action: 'confirm', bot: null }],
    ['Do it', { action: 'confirm', bot: null }],
    ['no', { action: 'cancel', bot: null }],
    ['never mind', { action: 'cancel', bot: null }],
  ])('%s', (text, intent) => {
    expect(parseIntent(text)).toEqual(intent);
  });

  it('does not guess at what it does not know', () => {
    for (const text of ['make coffee', '', '   ', 'hello there', '!!!']) expect(parseIntent(text), text).toBeNull();
  });

  it('joins spoken digits to the name part before them', () => {
    expect(spokenToId('analytics v one')).toBe('analytics v1');
    expect(spokenToId('web two')).toBe('web 2');
    expect(spokenToId('bot one two')).toBe('bot 12');
  });
});

describe('bots named loosely', () => {
  const bots = [
    { id: 'analytics-bot-v1', name: 'Analytics bot' },
    { id: 'echo', name: 'Echo' },
    { id: 'weather-v1', name: 'Weather reporter' },
    { id: 'weather-v2', name: 'Weather reporter, new' },
  ];
  const pick = (said: string) => {
    const r = resolveBot(said, bots);
    return r.kind === 'one' ? r.bot.id : r.kind === 'many' ? r.candidates.map((b) => b.id) : null;
  };
  it('by id, by name, by the words of either, spoken digits and one typo', () => {
    expect(pick('analytics-bot-v1')).toBe('analytics-bot-v1');
    expect(pick('the analytics bot')).toBe('analytics-bot-v1');
    expect(pick('analytics')).toBe('analytics-bot-v1');
    expect(pick('Echo')).toBe('echo');
    expect(pick('weather v one')).toBe('weather-v1');
    expect(pick('weather v2')).toBe('weather-v2');
    expect(pick('analitics')).toBe('analytics-bot-v1');
  });
  it('asks when several fit, and finds nothing for a stranger', () => {
    expect(pick('weather')).toEqual(['weather-v1', 'weather-v2']);
    expect(pick('the weather reporter')).toBe('weather-v1'); // its exact name
    expect(pick('reporter')).toEqual(['weather-v1', 'weather-v2']);
    expect(pick('zebra')).toBeNull();
    expect(pick('')).toBeNull();
  });
});
