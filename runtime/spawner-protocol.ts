/** Messages between the local runtime and its spawner process (over Node's IPC channel). */

export interface SpawnRequest {
  type: 'spawn';
  id: number;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  logPath: string;
  /** The cgroup.procs of the instance's cgroup: the new process is moved there before the spawner answers. */
  cgroupProcs?: string | undefined;
  fifoPath: string;
  /** Written, with pid and start time, in the same synchronous step as the spawn: no crash can leave the process unrecorded. */
  pidFile: { path: string; record: Record<string, unknown> };
}

export type SpawnerReply =
  | { type: 'spawned'; id: number; pid: number; processStartTicks: string | null }
  | { type: 'error'; id: number; message: string }
  | { type: 'exit'; pid: number; code: number | null; signal: NodeJS.Signals | null };
