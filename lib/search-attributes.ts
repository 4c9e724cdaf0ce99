import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Registered as Keyword on the Temporal server so Temporal UI can filter the fleet. */
export const BotIdKey = defineSearchAttributeKey('BotId', SearchAttributeType.KEYWORD);
export const BotStatusKey = defineSearchAttributeKey('BotStatus', SearchAttributeType.KEYWORD);
export const BotRoleKey = defineSearchAttributeKey('BotRole', SearchAttributeType.KEYWORD);

/** A deployment's phase (its workflow also carries BotId). */
export const DeploymentPhaseKey = defineSearchAttributeKey('DeploymentPhase', SearchAttributeType.KEYWORD);

export const BOT_SEARCH_ATTRIBUTES = ['BotId', 'BotStatus', 'BotRole', 'DeploymentPhase'] as const;
