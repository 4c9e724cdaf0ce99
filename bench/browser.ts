import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (scripts/ensure-installed.mjs installs it as root); null when it is not there. */
export function chromiumPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export const NO_CHROMIUM =
  'needs Debian chromium: sudo apt-get install -y --no-install-recommends chromium (npm test installs it as root)';

/** Headless Chromium for the console's tests and benchmark. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(NO_CHROMIUM);
  return chromium.launch({
    executablePath,
    headless: true,
    // Root has no user namespace sandbox here; the pages are our own.
    args: ['--no-sandbox', '--disable-dev-shm-usage', ...args],
  });
}
