import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
  ActivityFailure,
} from '@temporalio/workflow';
import type { Activities, IncidentRecord, LaunchRequest, StatusRecord } from '../activities/create-activities.js';
import type { BotStatus } from '../lib/bot-status.js';
import { BotRoleKey, BotStatusKey } from '../lib/search-attributes.js';
import {
  backoffSeconds,
  check,
  healVerdict,
  initialState,
  needsWork,
  resetHealing,
  upStatus,
  view,
  type BotState,
} from './bot-state.js';
import { botObservedSignal } from './deployment-messages.js';
import {
  deleteUpdate,
  deploymentReleasedSignal,
  deployUpdate,
  healthConditionSignal,
  healthViolatedSignal,
  heartbeatReceivedSignal,
  instanceExitedSignal,
  restartUpdate,
  specChangedSignal,
  startUpdate,
  stateQuery,
  stopUpdate,
  type BotObservation,
  type CommandAnswer,
  type DeployRequest,
} from './messages.js';

const runtimeOps = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 5 },
} as const;

const registryWrites = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', maximumInterval: '10s' },
} as const;

const { launchInstance, stopInstance, releaseBot } = proxyActivities<Activities>(runtimeOps);
const { recordStatus, recordIncident, recordInstanceEnd, resolveIncident } =
  proxyLocalActivities<Activities>(registryWrites);

/**
 * Workflow changes that alter the commands a history holds, for
 * `patched()`: histories recorded before them replay the way they ran.
 */
const PATCH_LAUNCH_SETTLES = 'launch-records-its-status';
const PATCH_HEAL_AT_ONCE = 'heal-without-backoff-launches-at-once';
const PATCH_RELEASE_ON_DELETE = 'delete-releases-runtime-objects';
const PATCH_RESTART_AT_ONCE = 'restart-launches-at-once';
const PATCH_STOP_RECORDS_STOPPING = 'stop-records-its-status';

/** Well under Temporal's limits; continue-as-new keeps every bot's history short enough to read in the UI. */
export const DEFAULT_MAX_HISTORY_EVENTS = 2000;

export interface BotLifecycleInput {
  botId: string;
  role: string;
  /** Carried across continue-as-new. */
  state?: BotState;
  /** Continue as new past this many history events (default DEFAULT_MAX_HISTORY_EVENTS). */
  maxHistoryEvents?: number;
}

/**
 * One long-lived workflow per bot. Updates change the desired state, runtime
 * signals report what happened; the loop below reconciles the two, one step at
 * a time, and sleeps when there is nothing to do (no polling).
 */
export async function botLifecycle(input: BotLifecycleInput): Promise<void> {
  const s: BotState = input.state ?? initialState(input.botId, input.role);

  const answer = (action: CommandAnswer['action'], message: string): CommandAnswer => ({
    accepted: true,
    action,
    bot_id: s.botId,
    status: s.status,
    desired_state: s.desired,
    message,
  });

  setHandler(stateQuery, () => view(s));
  setHandler(
    startUpdate,
    () => {
      // An operator's start is a fresh start: the heal policy counts from zero.
      resetHealing(s);
      s.desired = 'running';
      return answer('start', `Start accepted: ${s.botId} is being deployed.`);
    },
    { validator: () => check.start(s) },
  );
  setHandler(
    stopUpdate,
    () => {
      s.desired = 'stopped';
      return answer('stop', `Stop accepted: ${s.botId} gets SIGTERM, then SIGKILL if it does not exit in time.`);
    },
    { validator: () => check.stop(s) },
  );
  setHandler(
    restartUpdate,
    () => {
      if (s.gaveUp) resetHealing(s);
      s.desired = 'running';
      s.restartRequested = true;
      return answer('restart', `Restart accepted: ${s.botId} is stopped and started again.`);
    },
    { validator: () => check.restart(s) },
  );
  setHandler(
    deleteUpdate,
    () => {
      s.deleteRequested = true;
      return answer('delete', `Delete accepted: the lifecycle of ${s.botId} ends.`);
    },
    { validator: () => check.delete(s) },
  );
  setHandler(
    deployUpdate,
    (req) => {
      if (s.deployment?.token === req.token) return answer('deploy', `Deploy ${req.token} was already taken.`);
      const wasUp = s.desired === 'running' && !s.gaveUp;
      // A deployment is an operator's fresh start too: the heal policy counts from zero.
      resetHealing(s);
      s.desired = 'running';
      s.deployment = { workflowId: req.deploymentWorkflowId, token: req.token, instanceId: null };
      // Running, launching, or waiting out a heal backoff: the new revision replaces what is there.
      if (wasUp || s.instance || s.launchingId) s.restartRequested = true;
      return answer('deploy', `Deploy accepted: ${s.botId} runs its new revision.`);
    },
    { validator: (req: DeployRequest) => check.deploy(s, req) },
  );
  setHandler(deploymentReleasedSignal, ({ deploymentWorkflowId }) => {
    if (s.deployment?.workflowId === deploymentWorkflowId) s.deployment = null;
  });
  setHandler(instanceExitedSignal, (exit) => {
    const current = s.instance?.id ?? s.launchingId;
    // Exits of instances we stopped ourselves, or of older instances, are history; the first report of an exit is the best one.
    if (
      exit.instanceId === current &&
      exit.instanceId !== s.stoppingId &&
      s.pendingExit?.instanceId !== exit.instanceId
    )
      s.pendingExit = exit;
  });
  setHandler(healthViolatedSignal, (violation) => {
    // Only about the running instance, and only once: an exit already reported is the better account.
    if (
      violation.instanceId === s.instance?.id &&
      violation.instanceId !== s.stoppingId &&
      !s.pendingExit &&
      !s.pendingViolation
    )
      s.pendingViolation = violation;
  });
  setHandler(healthConditionSignal, (change) => {
    if (change.instanceId !== s.instance?.id || change.instanceId === s.stoppingId) return;
    // The latest word on a rule is the one that counts.
    s.conditionChanges = [...(s.conditionChanges ?? []).filter((c) => c.rule !== change.rule), change];
  });
  setHandler(heartbeatReceivedSignal, ({ instanceId }) => {
    if (instanceId === s.instance?.id || instanceId === s.launchingId) s.beatInstance = instanceId;
  });
  setHandler(specChangedSignal, ({ role }) => {
    s.role = role;
    upsertSearchAttributes([{ key: BotRoleKey, value: role }]);
  });

  for (;;) {
    await condition(() => needsWork(s) || historyTooLong(input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS));
    if (s.deleteRequested && !s.instance) break;
    if (needsWork(s)) {
      await step(s);
      continue;
    }
    await condition(allHandlersFinished);
    // A signal still on its way when the run closes is never delivered: a deployment would miss a report.
    await reportsDelivered();
    return continueAsNew<typeof botLifecycle>({ ...input, role: s.role, state: s });
  }
  // What the runtime keeps for the bot (its Kubernetes Deployment and Secret) goes with it.
  if (patched(PATCH_RELEASE_ON_DELETE)) await releaseBot({ botId: s.botId });
  await condition(allHandlersFinished);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function historyTooLong(maxEvents: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxEvents;
}

async function step(s: BotState): Promise<void> {
  if (s.pendingExit) return handleExit(s);
  if (s.pendingViolation) return handleViolation(s);
  if (s.conditionChanges?.length) return applyConditions(s);
  if (s.instance && s.status === 'deploying' && s.beatInstance === s.instance.id) return setUp(s);
  if (s.restartRequested) {
    s.restartRequested = false;
    if (s.instance) await stopCurrent(s, 'restart requested');
    s.restartCount++;
    // The "deploying" status is written by the launch, beside the new process: a restart waits for no bookkeeping.
    return patched(PATCH_RESTART_AT_ONCE) ? launch(s, null, {}) : launch(s);
  }
  if (s.desired === 'stopped' || s.deleteRequested) {
    if (s.instance) await stopCurrent(s, 'stop requested');
    return setStatus(s, 'stopped', null);
  }
  if (!s.instance && !s.gaveUp) return launch(s);
}

/** A status change, applied and written to the registry now. */
async function setStatus(s: BotState, status: BotStatus, reason: string | null): Promise<void> {
  await recordStatus(statusChange(s, status, reason));
}

/** A status change, applied, and the record for whoever writes it (now, or the launch beside its new process). */
function statusChange(s: BotState, status: BotStatus, reason: string | null): StatusRecord {
  const previous = s.status;
  applyStatus(s, status, reason);
  return {
    botId: s.botId,
    status,
    desiredState: s.desired,
    statusReason: reason,
    restartCount: s.restartCount,
    instanceId: s.instance?.id ?? null,
    previous,
    seq: nextSeq(s),
  };
}

/**
 * The one place the workflow's status changes (its state and the search
 * attribute): every change comes through here, whether the workflow writes
 * the record itself or the launch activity already has.
 */
function applyStatus(s: BotState, status: BotStatus, reason: string | null, since?: number): void {
  if (s.status !== status) upsertSearchAttributes([{ key: BotStatusKey, value: status }]);
  s.status = status;
  s.statusReason = reason;
  observe(
    s,
    { kind: 'status', instanceId: s.instance?.id ?? s.launchingId, status, desired: s.desired, reason },
    since,
  );
}

/**
 * Tells the deployment this bot reports to what happened, once the instance
 * launched for it exists. A deployment that has ended cannot be told: the
 * bot stops reporting to it.
 */
function observe(s: BotState, observation: DistributiveOmit<BotObservation, 'token' | 'at'>, at = Date.now()): void {
  const d = s.deployment;
  if (!d?.instanceId) return;
  const sent = getExternalWorkflowHandle(d.workflowId)
    .signal(botObservedSignal, { ...observation, token: d.token, at } as BotObservation)
    .catch(() => {
      if (s.deployment?.workflowId === d.workflowId) s.deployment = null;
    })
    .finally(() => reports.delete(sent));
  reports.add(sent);
}

/** Reports to a deployment not yet delivered (this run's: each workflow run has its own module state). */
const reports = new Set<Promise<void>>();

async function reportsDelivered(): Promise<void> {
  while (reports.size > 0) await Promise.all([...reports]);
}

/** The number of the bot's next event: subscribers order and de-duplicate by it. */
function nextSeq(s: BotState): number {
  s.eventSeq = (s.eventSeq ?? 0) + 1;
  return s.eventSeq;
}

/**
 * Launches a new instance. The activity records the status it settles in
 * (running, or deploying until a first heartbeat), so the bot shows running
 * as soon as its process exists. `records`: what a heal without backoff has
 * not written yet (the old instance's end, its incident); the activity
 * writes them beside the launch, so a restart waits for no bookkeeping.
 */
async function launch(s: BotState, why: string | null = null, records?: LaunchRequest['records']): Promise<void> {
  const instanceId = uuid4();
  s.launchingId = instanceId;
  if (s.deployment && !s.deployment.instanceId) s.deployment.instanceId = instanceId;
  let deploying: StatusRecord | undefined;
  if (records) deploying = statusChange(s, 'deploying', why);
  else await setStatus(s, 'deploying', why);
  // Histories from before the launch recorded its own status replay as they ran: with a status write after it.
  const settle = patched(PATCH_LAUNCH_SETTLES)
    ? { seq: nextSeq(s), desiredState: s.desired, restartCount: s.restartCount }
    : undefined;
  let launched: Awaited<ReturnType<typeof launchInstance>>;
  try {
    launched = await launchInstance({
      botId: s.botId,
      instanceId,
      ...(records ? { records: { ...records, status: deploying } } : {}),
      ...(settle ? { settle } : {}),
    });
  } catch (err) {
    s.launchingId = null;
    if (settle) s.eventSeq = settle.seq - 1; // the settled status was never recorded: its number goes to the next event
    // The activity may have failed before writing them; each write counts once.
    if (records) {
      await Promise.all([
        records.instanceEnd ? recordInstanceEnd(records.instanceEnd) : undefined,
        records.incident ? recordIncident(records.incident) : undefined,
        deploying ? recordStatus(deploying) : undefined,
      ]);
    }
    const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    const reason = `launch failed: ${cause?.message ?? (err as Error).message}`;
    await incident(s, {
      instanceId,
      kind: 'launch_failed',
      severity: 'critical',
      message: reason,
      evidence: { failure: cause?.type ?? 'unknown' },
      outcome: 'failed: fix the cause, then start the bot again',
    });
    s.gaveUp = true;
    return setStatus(s, 'failed', reason);
  }
  const { instance, healPolicy, heartbeatIntervalSeconds, settled } = launched;
  s.healPolicy = healPolicy;
  s.heartbeatIntervalSeconds = heartbeatIntervalSeconds ?? null;
  s.instance = {
    id: instanceId,
    pid: instance.pid,
    processStartTicks: instance.processStartTicks,
    startedAt: instance.startedAt,
  };
  s.launchingId = null;
  // Running since its process started (a deployment's gate counts from there), not since this task learned it.
  if (settled) applyStatus(s, settled.status, settled.reason, Date.parse(instance.startedAt));
  // An instant crash is already queued in pendingExit: handleExit reports it next.
  if (s.pendingExit) return;
  // A bot that heartbeats is running when it says so (its first heartbeat), not when its process exists.
  if (s.heartbeatIntervalSeconds && s.beatInstance !== instanceId) {
    if (settled?.status === 'deploying') return;
    return setStatus(s, 'deploying', 'started; waiting for its first heartbeat');
  }
  await setUp(s);
}

/** The bot is up: running, or degraded while a degrading rule holds; written when that is not what is recorded already. */
async function setUp(s: BotState): Promise<void> {
  const up = upStatus(s);
  if (up.status !== s.status || up.reason !== s.statusReason) await setStatus(s, up.status, up.reason);
}

/**
 * Degrading rules that started or stopped holding for the running instance:
 * each start is an incident, each recovery resolves it; the bot keeps running,
 * its status says degraded (and why) while any holds.
 */
async function applyConditions(s: BotState): Promise<void> {
  const changes = s.conditionChanges!.splice(0);
  const held = (s.conditions ??= {});
  for (const change of changes) {
    if (change.instanceId !== s.instance?.id) continue;
    const current = held[change.rule];
    if (change.active && !current) {
      const id = await incident(s, {
        instanceId: change.instanceId,
        kind: change.rule,
        severity: 'warning',
        message: `bot ${s.botId} ${change.reason}`,
        evidence: change.evidence,
        outcome: 'degraded: it keeps running, and is running again when it recovers',
      });
      held[change.rule] = { reason: change.reason, since: change.at, incidentId: id };
    } else if (!change.active && current) {
      delete held[change.rule];
      await resolveIncident({ id: current.incidentId, resolution: `recovered: ${change.reason}` });
    }
  }
  if (s.status === 'running' || s.status === 'degraded') await setUp(s);
}

/** The instance is gone: what degraded it is over with it. */
async function endConditions(s: BotState, why: string): Promise<void> {
  const held = s.conditions ?? {};
  s.conditions = {};
  s.conditionChanges = [];
  for (const c of Object.values(held))
    await resolveIncident({ id: c.incidentId, resolution: `the instance ended (${why})` });
}

/** `endReason` goes on the instance record when it is not an operator's stop. */
async function stopCurrent(
  s: BotState,
  why: string,
  endReason?: string,
): Promise<{ exitCode: number | null; signal: string | null }> {
  const inst = s.instance!;
  s.stoppingId = inst.id;
  // The "stopping" status is written by the stop itself, before its SIGTERM: a stop waits for no bookkeeping.
  let stopping: StatusRecord | undefined;
  if (patched(PATCH_STOP_RECORDS_STOPPING)) stopping = statusChange(s, 'stopping', why);
  else await setStatus(s, 'stopping', why);
  const exit = await stopInstance({
    botId: s.botId,
    instanceId: inst.id,
    pid: inst.pid,
    processStartTicks: inst.processStartTicks,
    ...(endReason ? { reason: endReason } : {}),
    ...(stopping ? { status: stopping } : {}),
  });
  s.instance = null;
  s.stoppingId = null;
  if (s.pendingExit?.instanceId === inst.id) s.pendingExit = null;
  await endConditions(s, why);
  return exit;
}

async function handleExit(s: BotState): Promise<void> {
  const exit = s.pendingExit!;
  s.pendingExit = null;
  const inst = s.instance;
  const ended = { instanceId: exit.instanceId, exitCode: exit.exitCode, signal: exit.signal, reason: exit.reason };
  if (inst?.id !== exit.instanceId) return recordInstanceEnd(ended);
  observe(s, {
    kind: 'ended',
    instanceId: inst.id,
    rule: exit.kind ?? 'process_exited',
    reason: exit.reason,
    exitCode: exit.exitCode,
    signal: exit.signal,
  });
  s.instance = null;
  await endConditions(s, exit.reason);
  if (s.desired !== 'running' || s.deleteRequested) {
    await recordInstanceEnd(ended);
    return setStatus(s, 'stopped', exit.reason);
  }
  return heal(s, {
    instance: inst,
    kind: exit.kind ?? 'process_exited',
    message: `bot ${s.botId} ${exit.reason}`,
    reason: exit.reason,
    evidence: { exit_code: exit.exitCode, signal: exit.signal, ...exit.evidence },
    ended,
  });
}

/** A health rule found the running instance over a limit: end it, then heal as after an exit. */
async function handleViolation(s: BotState): Promise<void> {
  const violation = s.pendingViolation!;
  s.pendingViolation = null;
  const inst = s.instance;
  if (!inst || inst.id !== violation.instanceId || s.desired !== 'running' || s.deleteRequested) return;
  observe(s, {
    kind: 'ended',
    instanceId: inst.id,
    rule: violation.rule,
    reason: violation.reason,
    exitCode: null,
    signal: null,
  });
  const exit = await stopCurrent(s, violation.reason, violation.reason);
  const evidence = { ...violation.evidence, ended_by: exit.signal ?? `exit code ${exit.exitCode}` };
  return heal(s, {
    instance: inst,
    kind: violation.rule,
    message: `bot ${s.botId} ${violation.reason}`,
    reason: violation.reason,
    evidence,
  });
}

/** Why an instance ended, for the heal policy: the incident's kind and words, the reason for the status, the evidence, and its end record when not yet written. */
interface Ending {
  instance: NonNullable<BotState['instance']>;
  kind: string;
  message: string;
  reason: string;
  evidence: Record<string, unknown>;
  ended?: NonNullable<LaunchRequest['records']>['instanceEnd'];
}

/**
 * The heal policy, after an instance ended (the evidence gets its pid and
 * how long it ran): restart after the backoff, with an incident of the
 * ending's kind, or give up (failed, crash_loop) after max_restarts within
 * the window.
 */
async function heal(s: BotState, ending: Ending): Promise<void> {
  const { instance: inst, kind, message, reason, ended } = ending;
  let { evidence } = ending;
  const policy = s.healPolicy;
  const now = Date.now();
  const ranForMs = now - Date.parse(inst.startedAt);
  const verdict = healVerdict(policy, s.healRestarts, s.consecutiveHeals, now, ranForMs);
  s.healRestarts = verdict.healRestarts;
  s.consecutiveHeals = verdict.consecutiveHeals;
  evidence = { ...evidence, pid: inst.pid, ran_for_seconds: Math.round(ranForMs / 100) / 10 };

  if (verdict.giveUp) {
    const why = `gave up after ${s.healRestarts.length} restarts within ${policy.window_seconds}s; last exit: ${reason}`;
    s.gaveUp = true;
    // The incident is there before the status says failed: whoever sees "failed" finds why.
    await Promise.all([
      ended ? recordInstanceEnd(ended) : undefined,
      incident(s, {
        instanceId: inst.id,
        kind: 'crash_loop',
        severity: 'critical',
        message: why,
        evidence: { ...evidence, last_cause: kind },
        outcome: 'failed: no more restarts until an operator starts the bot again',
      }),
    ]);
    return setStatus(s, 'failed', why);
  }

  const delay = backoffSeconds(policy, s.consecutiveHeals);
  const attempt = s.healRestarts.length + 1;
  const record = incidentRecord(s, {
    instanceId: inst.id,
    kind,
    severity: 'warning',
    message,
    evidence,
    outcome: `restart ${attempt} of at most ${policy.max_restarts} within ${policy.window_seconds}s, after ${delay}s`,
  });
  if (
    delay === 0 &&
    !s.restartRequested &&
    s.desired === 'running' &&
    !s.deleteRequested &&
    patched(PATCH_HEAL_AT_ONCE)
  ) {
    // At once, as a process manager would: no "healing" pause, and the records are written by the launch, beside the new process.
    s.healRestarts.push(Date.now());
    s.consecutiveHeals++;
    s.restartCount++;
    return launch(s, `${reason}; restarting now`, { ...(ended ? { instanceEnd: ended } : {}), incident: record });
  }
  s.nextRestartAt = now + delay * 1000;
  await Promise.all([ended ? recordInstanceEnd(ended) : undefined, recordIncident(record)]);
  await setStatus(s, 'healing', `${reason}; restarting in ${delay}s`);
  const interrupted = () => s.desired !== 'running' || s.deleteRequested || s.restartRequested;
  const wasInterrupted = delay > 0 ? await condition(interrupted, delay * 1000) : interrupted();
  s.nextRestartAt = null;
  if (wasInterrupted) return;
  s.healRestarts.push(Date.now());
  s.consecutiveHeals++;
  s.restartCount++;
  return launch(s);
}

/** What an incident says: about which instance, what kind, how bad, in words, with what evidence, and what the platform does. */
type IncidentFacts = Omit<IncidentRecord, 'id' | 'botId' | 'seq'>;

async function incident(s: BotState, facts: IncidentFacts): Promise<string> {
  const record = incidentRecord(s, facts);
  await recordIncident(record);
  return record.id;
}

/** An incident with its id and event number, ready to be written (by a local activity, or by the launch). */
function incidentRecord(s: BotState, facts: IncidentFacts): IncidentRecord {
  return { id: uuid4(), botId: s.botId, ...facts, seq: nextSeq(s) };
}
