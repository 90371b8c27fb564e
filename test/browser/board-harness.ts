// What every board browser test starts with: a gateway on its own PostgreSQL database, listening on loopback
// for the browser, a native client for making handovers, and headless chromium; `stop` closes all of it.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { nativeClient, type Native } from '../support/native.ts';
import { launchChromium } from './chromium.ts';

export interface BoardHarness {
  tg: TestGateway;
  native: Native;
  server: Server;
  /** `http://127.0.0.1:<port>`, where the browser finds the board. */
  origin: string;
  browser: Browser;
  stop(): Promise<void>;
}

export async function startBoardHarness(): Promise<BoardHarness> {
  const tg = await startTestGateway();
  const server = tg.app.listen(0, '127.0.0.1');
  let browser: Browser | undefined;
  const stop = async (): Promise<void> => {
    await browser?.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await tg.stop();
  };
  try {
    await new Promise((resolve) => server.once('listening', resolve));
    browser = await launchChromium();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { tg, native: nativeClient(tg), server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, browser, stop };
}
