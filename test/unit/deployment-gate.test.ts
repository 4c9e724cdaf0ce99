import { describe, expect, it } from 'vitest';
import type { HealthGate } from '../../lib/deployment-phases.js';
import { deadlineFailure, gateVerdict, newGate, observeGate } from '../../workflows/deployment-gate.js';
import type { BotObservation } from '../../workflows/messages.js';

const gate: HealthGate = { min_healthy_seconds: 10, progress_deadline_seconds: 60, max_error_rate: null };
const status = (s: string, at: number, extra: Partial<BotObservation> = {}): BotObservation =>
  ({
    kind: 'status',
    token: 't',
    at,
    instanceId: 'i1',
    status: s,
    desired: 'running',
    reason: null,
    ...extra,
  }) as BotObservation;

describe('the deployment gate', () => {
  it('passes once the new instance has been up min_healthy_seconds in a row, counted from when the lifecycle saw it', () => {
    const g = newGate();
    observeGate(g, status('deploying', 1000), 1000);
    expect(gateVerdict(g, gate, 0, 1000)).toEqual({ verdict: 'wait', wakeAt: 60_000 });
    observeGate(g, status('running', 2000), 2100);
    expect(gateVerdict(g, gate, 0, 2100)).toEqual({ verdict: 'wait', wakeAt: 12_000 });
    expect(gateVerdict(g, gate, 0, 12_000)).toEqual({ verdict: 'healthy_long_enough' });
  });

  it('fails at the first exit, degradation or stop, and keeps the first reason', () => {
    const exited = newGate();
    observeGate(exited, status('running', 1000), 1000);
    observeGate(
      exited,
      {
        kind: 'ended',
        token: 't',
        at: 1500,
        instanceId: 'i1',
        rule: 'process_exited',
        reason: 'exited with code 3',
        exitCode: 3,
        signal: null,
      },
      1500,
    );
    observeGate(exited, status('degraded', 1600), 1600);
    expect(gateVerdict(exited, gate, 0, 1600)).toEqual({ verdict: 'failed' });
    expect(exited.failure).toMatchObject({ rule: 'exited', evidence: { exit_code: 3 } });

    const degraded = newGate();
    observeGate(degraded, status('degraded', 1000, { reason: 'error rate 90 %' }), 1000);
    expect(degraded.failure).toMatchObject({ rule: 'degraded' });

    const stopped = newGate();
    observeGate(stopped, status('stopping', 1000, { desired: 'stopped' }), 1000);
    expect(stopped.failure).toMatchObject({ rule: 'stopped', stoppedByOperator: true });

    const lost = newGate();
    observeGate(
      lost,
      {
        kind: 'ended',
        token: 't',
        at: 1,
        instanceId: 'i1',
        rule: 'heartbeat_lost',
        reason: 'no heartbeat for 30 s',
        exitCode: null,
        signal: null,
      },
      1,
    );
    expect(lost.failure?.rule).toBe('heartbeat_lost');
  });

  it('fails at the deadline when the instance never came up, or came up too late to stay up long enough', () => {
    const never = newGate();
    observeGate(never, status('deploying', 1000, { reason: 'started; waiting for its first heartbeat' }), 1000);
    expect(gateVerdict(never, gate, 0, 60_000)).toEqual({ verdict: 'deadline' });
    expect(deadlineFailure(never, gate).detail).toMatch(/never came up \(started; waiting for its first heartbeat\)/);

    const late = newGate();
    observeGate(late, status('running', 55_000), 55_000);
    expect(gateVerdict(late, gate, 0, 59_000)).toEqual({ verdict: 'wait', wakeAt: 60_000 });
    expect(gateVerdict(late, gate, 0, 60_000)).toEqual({ verdict: 'deadline' });
  });
});
