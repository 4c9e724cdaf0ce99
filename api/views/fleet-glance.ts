import type { Permission } from '../../lib/permissions.js';
import { onboardingFacts } from '../../registry/onboarding.js';
import { listBlueprints } from '../../runtime/blueprint.js';
import type { AppDeps } from '../deps.js';
import type { FleetGlance } from './guide.js';
import { statusCounts } from './guide.js';
import { gatherRecommendationInput, recommend } from './recommendations.js';

/** The fleet at a glance, as the guide and the dashboard read it: a few queries, whatever the fleet's size. */
export async function gatherGlance(deps: AppDeps, permissions: ReadonlySet<Permission>): Promise<FleetGlance> {
  const [input, facts, blueprints] = await Promise.all([
    gatherRecommendationInput(deps, permissions.has('bots:logs')),
    onboardingFacts(deps.db),
    deps.config.BOT_RUNTIME === 'local'
      ? listBlueprints(deps.config.paths.botsDir, { limit: 1, maxDepth: 2 })
      : Promise.resolve({ blueprints: [] }),
  ]);
  const byStatus: Record<string, number> = {};
  const byRole: Record<string, number> = {};
  for (const b of input.bots) {
    byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
    byRole[b.role] = (byRole[b.role] ?? 0) + 1;
  }
  const first = input.bots.reduce<(typeof input.bots)[number] | null>(
    (a, b) => (a === null || new Date(b.created_at) < new Date(a.created_at) ? b : a),
    null,
  );
  const idle = input.bots.find(
    (b) => (b.status === 'registered' || b.status === 'stopped') && b.desired_state === 'stopped',
  );
  // Bot ids are the fleet's inventory: a caller without bots:read (a CI key) is shown placeholders.
  const reads = permissions.has('bots:read');
  return {
    counts: statusCounts(byStatus),
    byRole,
    desiredRunning: input.bots.filter((b) => b.desired_state === 'running').length,
    images: input.bots.filter((b) => b.image !== null).length,
    firstBot: reads ? (first?.id ?? null) : null,
    idleBot: reads ? (idle?.id ?? null) : null,
    recommendations: permissions.has('bots:read') ? recommend(input) : [],
    openIncidents: permissions.has('incidents:read')
      ? input.unresolved.filter((i) => i.acknowledged_at === null).length
      : 0,
    facts,
    permissions,
    blueprint: blueprints.blueprints[0]?.path ?? null,
  };
}
