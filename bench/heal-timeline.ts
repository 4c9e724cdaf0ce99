import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { InstanceExited } from '../workflows/messages.js';

const { EventType } = proto.temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** One heal of one instance, in wall-clock milliseconds, as a bot's workflow history records it. */
export interface HealTimeline {
  /** When the runtime saw the exit: the `at` it stamps on the instanceExited signal. */
  detectedAt: number;
  /** When Temporal recorded that signal. */
  signaledAt: number;
  /** When the worker took the workflow task that handles it. */
  taskStartedAt: number | null;
  /** The launchInstance activity of the next instance: scheduled (after the local activities), started, completed. */
  launchScheduledAt: number | null;
  launchStartedAt: number | null;
  launchCompletedAt: number | null;
}

const toMs = (ts: proto.google.protobuf.ITimestamp | null | undefined): number =>
  ts ? Number(ts.seconds?.toString() ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6 : Number.NaN;

/**
 * Heals of a bot by the id of the instance that ended, read back from its
 * workflow's history (every run of it: continue-as-new splits a long one).
 * Only the first exit report of an instance counts, as in the workflow.
 */
export async function healTimelines(client: Client, workflowId: string): Promise<Map<string, HealTimeline>> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const events: HistoryEvent[] = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    runs.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }

  const heals = new Map<string, HealTimeline>();
  for (const events of runs) {
    // The heal waiting for its next step, and the launches by their scheduling event.
    let open: HealTimeline | null = null;
    const launches = new Map<string, HealTimeline>();
    for (const e of events) {
      const at = toMs(e.eventTime);
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
        const attrs = e.workflowExecutionSignaledEventAttributes;
        const payload = attrs?.input?.payloads?.[0];
        if (attrs?.signalName !== 'instanceExited' || !payload) continue;
        const exit = defaultPayloadConverter.fromPayload<InstanceExited>(payload);
        if (heals.has(exit.instanceId)) continue;
        open = {
          detectedAt: Date.parse(exit.at),
          signaledAt: at,
          taskStartedAt: null,
          launchScheduledAt: null,
          launchStartedAt: null,
          launchCompletedAt: null,
        };
        heals.set(exit.instanceId, open);
      } else if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
        if (open && open.taskStartedAt === null) open.taskStartedAt = at;
      } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
        if (open && e.activityTaskScheduledEventAttributes?.activityType?.name === 'launchInstance') {
          open.launchScheduledAt = at;
          launches.set(String(e.eventId), open);
          open = null;
        }
      } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
        const heal = launches.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId));
        if (heal) heal.launchStartedAt = at;
      } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
        const heal = launches.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId));
        if (heal) heal.launchCompletedAt = at;
      }
    }
  }
  return heals;
}
