/** Messages between the local runtime and its spawner process (over Node's IPC channel). */

export interface SpawnRequest {
  type: 'spawn';
  id: number;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  logPath: string;
  fifoPath: string;
}

export type SpawnerReply =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'exit'; pid: number; code: number | null; signal: NodeJS.Signals | null };
