/**
 * One interface for every place bots run. `local` runs processes on this
 * machine; `kubernetes` runs Deployments. Both feed the same events
 * to the bots' workflows, and both must survive a restart of the control plane.
 */

export interface LaunchRequest {
  botId: string;
  /** Chosen by the workflow; a retried launch with the same id returns the same instance. */
  instanceId: string;
  blueprint: string | null;
  image: string | null;
  /** An uploaded build, unpacked on this host: the directory, and the file in it that runs (local runtime). */
  artifact?: { dir: string; entrypoint: string } | null;
  args: string[];
  env: Record<string, string>;
  resources: { memory_limit_mb?: number | undefined; cpu_limit?: number | undefined };
  /** Set by the platform over the bot's own env: CODEX32_BOT_TOKEN. */
  identity?: Record<string, string>;
}

export interface InstanceRef {
  botId: string;
  instanceId: string;
  /** Process id (local) — null for runtimes without one. */
  pid: number | null;
  /** Start time of the process in clock ticks since boot: guards against pid reuse. */
  processStartTicks: string | null;
}

export interface LaunchedInstance extends InstanceRef {
  runtime: RuntimeKind;
  host: string;
  logPath: string | null;
  startedAt: string;
}

export interface InstanceExit {
  exitCode: number | null;
  signal: string | null;
  /** Why it ended, in words for an operator. */
  reason: string;
  /** How the end was seen: the parent's exit report, end-of-file on the exit FIFO, or a liveness check. */
  seenBy?: 'parent' | 'fifo' | 'liveness-check';
  /** The incident kind when it is not a plain exit (Kubernetes: oom_killed, evicted, pod_deleted, pod_failed). */
  kind?: string;
  /** What the runtime saw, for the incident (Kubernetes: the pod, its node and reason). */
  evidence?: Record<string, unknown>;
}

export type RuntimeEvent = { type: 'exited'; botId: string; instanceId: string; at: string } & InstanceExit;

export interface InstanceStats {
  cpuSeconds: number;
  rssBytes: number;
  startedAt: Date;
}

export type RuntimeKind = 'local' | 'kubernetes';

export interface BotRuntime {
  readonly kind: RuntimeKind;
  launch(request: LaunchRequest): Promise<LaunchedInstance>;
  /** Graceful stop (SIGTERM, then SIGKILL after graceMs). Stopping an instance that is gone is not an error. */
  stop(ref: InstanceRef, graceMs: number): Promise<InstanceExit>;
  isAlive(ref: InstanceRef): Promise<boolean>;
  /** Starts watching an instance launched by an earlier control plane; false when it is no longer there. */
  adopt(ref: InstanceRef): Promise<boolean>;
  isWatching(instanceId: string): boolean;
  /** Every instance this runtime watches now (what the sampler reads figures of). */
  watchedInstances(): InstanceRef[];
  stats(ref: InstanceRef): Promise<InstanceStats | null>;
  /** The last `lines` lines the bot wrote (stdout and stderr), oldest first; empty when there are none. */
  recentLogs(botId: string, lines: number): Promise<string[]>;
  onEvent(listener: (event: RuntimeEvent) => void): () => void;
  /** The bot is deleted: whatever the runtime keeps for it (Kubernetes objects, run files) goes. Idempotent. */
  release(botId: string): Promise<void>;
  /** Stops watching. Never stops bots: they outlive the control plane. */
  close(): Promise<void>;
}

/** Permanent launch problems (bad blueprint, missing interpreter): retrying cannot help. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly code: 'blueprint_invalid' | 'image_unsupported' | 'image_pull_failed' | 'spawn_failed',
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}
