import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DeploymentPhase } from '../lib/deployment-phases.js';
import type { BotObservation } from './messages.js';

export function deploymentWorkflowId(deploymentId: string): string {
  return `deployment-${deploymentId}`;
}

export interface DeploymentProgress {
  phase: DeploymentPhase;
  /** The instance the gate watches, and since when (ms) it has been up. */
  instanceId: string | null;
  upSince: number | null;
}

/** Sent by the bot's lifecycle workflow: what happened to the instance launched for this deployment. */
export const botObservedSignal = defineSignal<[BotObservation]>('botObserved');
/** A newer deployment of the bot took over (the API has recorded it): this one ends and touches nothing more. */
export const supersededSignal = defineSignal<[{ by: string }]>('superseded');
/** Stops the gate and leaves the bot as it is; refused once the deployment has ended. */
export const cancelDeploymentUpdate = defineUpdate<{ phase: DeploymentPhase }, [{ by: string }]>('cancel');
export const progressQuery = defineQuery<DeploymentProgress>('progress');
