// Debian's chromium, headless, for the browser tests. When it is missing a test fails and says so;
// SKIP_BROWSER_TESTS=1 skips the browser tests on purpose, loudly.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SKIP_BROWSER_TESTS = process.env.SKIP_BROWSER_TESTS === '1';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No chromium at ${CHROMIUM}: install it (apt-get update && apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH; SKIP_BROWSER_TESTS=1 skips this test`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 30_000 });
}
