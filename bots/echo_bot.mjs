// Echo bot: a small Node bot that logs a heartbeat line on an interval and
// exits cleanly on SIGTERM. INTERVAL_MS sets the pace. Under Codex-32 it also
// sends heartbeats to the platform through the SDK (bots/sdk/codex32.mjs).
import { Codex32 } from './sdk/codex32.mjs';

const platform = new Codex32();
const botId = process.env.CODEX32_BOT_ID ?? 'echo-bot';
const intervalMs = Number(process.env.INTERVAL_MS ?? 5000);
let beats = 0;

const log = (event, extra = {}) =>
  console.log(JSON.stringify({ bot: botId, event, at: new Date().toISOString(), ...extra }));

log('started', { pid: process.pid, node: process.version });
const timer = setInterval(
  () => log('beat', { beats: ++beats, rss_mb: Math.round(process.memoryUsage().rss / 1048576) }),
  intervalMs,
);
let reported = 0;
platform.startHeartbeats(() => {
  const requests = beats - reported;
  reported = beats;
  return { requests, errors: 0, gauges: { beats } };
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    clearInterval(timer);
    platform.stopHeartbeats();
    log('stopped', { signal, beats });
    process.exit(0);
  });
}
