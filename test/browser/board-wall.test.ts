// The board on a wall screen (issue 13, point 5), in headless chromium against a gateway on PostgreSQL:
// `/board/` works, times are Amsterdam's whatever the browser's zone, the wall mode (`?wand=1`) fits at least
// 15 handovers at 1920×1080 and pages through the rest by itself, nothing is clipped from 1280 px up, the header
// names the organisation and an unknown patient reads as the record describes them.
// Leaves in test/artifacts/ (gitignored): board-wand.png, the wall mode with 20 handovers at 1920×1080;
// board-wand-1280x560.png, a page of it on a small screen; board-1280.png, the ordinary board at 1280 px.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { DEMO_SECRET, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, setBsn, uniqueRide, type Native } from '../support/native.ts';
import { startBoardHarness, type BoardHarness } from './board-harness.ts';
import { SKIP_BROWSER_TESTS } from './chromium.ts';

const ARTIFACTS = join(import.meta.dirname, '../artifacts');
const AMSTERDAM = 'Europe/Amsterdam';

interface Board {
  page: Page;
  context: BrowserContext;
  problems: string[];
}

interface Open {
  path?: string;
  viewport?: { width: number; height: number };
  timezoneId?: string;
  reducedMotion?: 'reduce' | 'no-preference';
}

/** What a row of the page shows where: its box in the viewport, or not shown at all. */
interface Shown {
  id: string;
  shown: boolean;
  top: number;
  bottom: number;
}

const amsterdamTime = (at: Date | string, seconds = false): string =>
  new Intl.DateTimeFormat('nl-NL', { timeZone: AMSTERDAM, hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hourCycle: 'h23' }).format(new Date(at));

(SKIP_BROWSER_TESTS ? describe.skip : describe)('/board on a wall screen', () => {
  let harness: BoardHarness | undefined;
  let tg: TestGateway;
  let native: Native;
  let origin: string;
  let browser: Browser;
  const boards: Board[] = [];

  beforeAll(async () => {
    harness = await startBoardHarness();
    ({ tg, native, origin, browser } = harness);
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await harness?.stop();
  });
  afterEach(async () => {
    for (const b of boards.splice(0)) {
      expect(b.problems).toEqual([]);
      await b.context.close();
    }
  });

  async function open(opts: Open = {}): Promise<Board> {
    const context = await browser.newContext({
      viewport: opts.viewport ?? { width: 1600, height: 900 },
      locale: 'nl-NL',
      timezoneId: opts.timezoneId ?? AMSTERDAM,
      reducedMotion: opts.reducedMotion ?? 'no-preference',
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
    });
    const res = await page.goto(`${origin}${opts.path ?? '/board'}`);
    expect(res?.status()).toBe(200);
    const board = { page, context, problems };
    boards.push(board);
    return board;
  }

  async function signIn(b: Board, client: DemoClient): Promise<void> {
    await b.page.fill('#client-id', client);
    await b.page.fill('#client-secret', DEMO_SECRET);
    await b.page.click('#sign-in-form button[type=submit]');
    await b.page.waitForSelector('body[data-sync="snapshot"]', { timeout: 10_000 });
  }

  const shown = (b: Board): Promise<Shown[]> =>
    b.page.$$eval('tr[data-handover-id]', (trs) =>
      trs.map((t) => {
        const box = t.getBoundingClientRect();
        return { id: t.getAttribute('data-handover-id') ?? '', shown: box.height > 0 && t.ownerDocument.defaultView.getComputedStyle(t).visibility !== 'hidden', top: box.top, bottom: box.bottom };
      }),
    );
  // The page's own globals through its root element (the tests are compiled without the DOM library).
  const viewportHeight = (b: Board): Promise<number> => b.page.$eval('html', (html) => html.ownerDocument.defaultView.innerHeight as number);

  /**
   * Watches the wall without touching it until every row has been on screen, whole. Fails when a row that is
   * shown sticks out of the viewport, or when some row never comes up within `limitMs`.
   */
  async function watchWall(b: Board, expected: number, limitMs: number): Promise<{ seen: Set<string>; pages: number; mostAtOnce: number }> {
    const height = await viewportHeight(b);
    const seen = new Set<string>();
    const screens = new Set<string>();
    let mostAtOnce = 0;
    let total = 0;
    const until = Date.now() + limitMs;
    while (Date.now() < until) {
      const rows = await shown(b);
      total = rows.length;
      const onScreen = rows.filter((r) => r.shown);
      for (const r of onScreen) {
        expect({ id: r.id, top: r.top >= 0, bottom: r.bottom <= height }).toEqual({ id: r.id, top: true, bottom: true });
        seen.add(r.id);
      }
      screens.add(onScreen.map((r) => r.id).join(' '));
      mostAtOnce = Math.max(mostAtOnce, onScreen.length);
      if (total >= expected && seen.size === total) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(total).toBeGreaterThanOrEqual(expected);
    expect(seen.size).toBe(total);
    return { seen, pages: screens.size, mostAtOnce };
  }

  /** Every header cell and data cell lies inside the viewport, and the page does not scroll sideways. */
  async function expectNothingClipped(b: Board): Promise<void> {
    const boxes = await b.page.$$eval('.handovers th, .handovers td, .top, .top *', (els) =>
      els
        .filter((e) => e.getBoundingClientRect().width > 0)
        .map((e) => ({ what: `${e.tagName.toLowerCase()}.${e.className} ${(e.textContent ?? '').slice(0, 30)}`, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right })),
    );
    const { width, scrollWidth } = await b.page.$eval('html', (html) => ({ width: html.clientWidth as number, scrollWidth: html.scrollWidth as number }));
    expect(boxes.length).toBeGreaterThan(8);
    expect(boxes.filter((x) => x.left < 0 || x.right > width + 0.5)).toEqual([]);
    expect(scrollWidth).toBeLessThanOrEqual(width);
  }

  let ride = uniqueRide();
  const acceptS1 = async (taskId: string, bsn: string): Promise<void> => {
    ride = uniqueRide();
    const record = fillHandover(setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), taskId);
    Object.assign(record, ride);
    await native.sendOk('ambulance', record, 'rav-noordoost');
  };

  /** 20 open handovers of every kind the ZCC sees, made once for the tests that need a full wall. */
  let made: Promise<void> | undefined;
  const twenty = (): Promise<void> =>
    (made ??= (async () => {
      const kinds: [string, DemoClient][] = [
        ['nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal'],
        ['nts-u3-naar-wijkverpleging.json', 'hap-vechtdal'],
        ['ambulance-niet-vervoerd-naar-vvt.json', 'rav-noordoost'],
        ['vvt-aanvraag-van-zcc.json', 'zcc-ijsselland'],
        ['ambulance-niet-vervoerd-naar-hap.json', 'rav-noordoost'],
      ];
      for (let i = 0; i < 20; i++) {
        const [name, client] = kinds[i % kinds.length] as [string, DemoClient];
        const created = await native.createHandover(name, client);
        if (i === 0) await acceptS1(created.taskId, created.bsn);
      }
    })());

  it('/board/ (trailing slash) comes to the board styled and live, keeping its query', async () => {
    const b = await open({ path: '/board/' });
    expect(new URL(b.page.url()).pathname).toBe('/board');
    // The style sheet applied: the dark wall background, not the browser's white.
    expect(await b.page.$eval('body', (body) => body.ownerDocument.defaultView.getComputedStyle(body).backgroundColor as string)).toBe('rgb(13, 17, 23)');
    await signIn(b, 'hap-vechtdal');
    const { taskId } = await native.createHandover('nts-u3-naar-wijkverpleging.json', 'hap-vechtdal');
    await b.page.waitForSelector(`tr[data-handover-id="${taskId}"]`, { timeout: 5000 });
    expect(await b.page.getAttribute('#connection', 'data-state')).toBe('live');

    const redirect = await request(tg.app).get('/board/?wand=1');
    expect(redirect.status).toBe(301);
    expect(new URL(redirect.headers.location ?? '', `${origin}/board/`).href).toBe(`${origin}/board?wand=1`);
    const wall = await open({ path: '/board/?wand=1' });
    expect(new URL(wall.page.url()).search).toBe('?wand=1');
    expect(await wall.page.getAttribute('html', 'data-wand')).toBe('1');
  }, 60_000);

  it('a browser on UTC shows Amsterdam time: the clock, the ride times and the detail', async () => {
    const s1 = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await acceptS1(s1.taskId, s1.bsn);
    const b = await open({ timezoneId: 'UTC' });
    expect(await b.page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)).toBe('UTC');
    await signIn(b, 'zcc-ijsselland');
    const tr = b.page.locator(`tr[data-handover-id="${s1.taskId}"][data-status="accepted"]`);
    await tr.waitFor({ timeout: 5000 });
    // The example's alarmering is 02:20:30+01:00: 02:20 in Amsterdam, 01:20 on a clock left on UTC.
    expect(await tr.locator('.responder').textContent()).toContain('alarmering 02:20');

    // The clock shows the instant of its last tick (once a second, later on a loaded machine), and says which in
    // `datetime`: its text must be that instant in Amsterdam, and the instant must be now, not an hour off.
    const before = Date.now();
    const clock = await b.page.$eval('#clock', (c) => ({ text: c.textContent ?? '', at: c.getAttribute('datetime') ?? '' }));
    const after = Date.now();
    expect(clock.text).toBe(amsterdamTime(clock.at, true));
    expect(Date.parse(clock.at)).toBeGreaterThan(before - 30_000);
    expect(Date.parse(clock.at)).toBeLessThanOrEqual(after);

    const detail = await request(tg.app).get(`/board/handovers/${s1.taskId}`).set('Authorization', await tg.auth('zcc-ijsselland'));
    const received = (detail.body as { row: { received: string } }).row.received;
    await tr.click();
    await b.page.waitForSelector('#detail-timeline li time');
    expect(await b.page.textContent('#detail-facts')).toContain(amsterdamTime(received, true));
    const times = await b.page.$$eval('#detail-timeline time', (ts) => ts.map((t) => ({ at: t.getAttribute('datetime') ?? '', text: t.textContent ?? '' })));
    expect(times.length).toBeGreaterThan(0);
    for (const t of times) expect(t.text).toContain(amsterdamTime(t.at, true));
    await b.page.keyboard.press('Escape');
  }, 60_000);

  it('the header names the organisation from the directory, not the client id', async () => {
    const b = await open();
    await signIn(b, 'zcc-ijsselland');
    await b.page.locator('#viewer:has-text("ZCC IJsselland")').waitFor({ timeout: 5000 });
    expect(await b.page.textContent('#viewer')).not.toContain('zcc-ijsselland');
    const hap = await open();
    await signIn(hap, 'hap-vechtdal');
    await hap.page.locator('#viewer:has-text("Huisartsenpost Vechtdal")').waitFor({ timeout: 5000 });
  }, 60_000);

  it('an unknown patient reads "onbekend (man, ~45 jr)", as the ambulance record describes him; a name kept as spoken gives initials', async () => {
    const { taskId } = await native.createHandover('ambulance-niet-vervoerd-naar-hap.json', 'rav-noordoost', {
      edit: (r) => {
        delete (r.patient as Record<string, unknown>).bsn;
      },
    });
    const res = await request(tg.app).get(`/board/handovers/${taskId}`).set('Authorization', await tg.auth('hap-vechtdal'));
    expect(res.status).toBe(200);
    expect((res.body as { row: { patient: unknown } }).row.patient).toEqual({ unknown: true, gender: 'male', age: 45, ageEstimated: true });
    const b = await open();
    await signIn(b, 'hap-vechtdal');
    const cell = b.page.locator(`tr[data-handover-id="${taskId}"] .patient`);
    await cell.waitFor({ timeout: 5000 });
    expect(await cell.textContent()).toBe('onbekend (man, ~45 jr)');

    // A name the crew spoke that does not parse into parts (kept as text) still gives initials, not "?".
    const spoken = await native.createHandover('ambulance-niet-vervoerd-naar-hap.json', 'rav-noordoost', {
      edit: (r) => {
        r.patient = { naam: 'Piet de Jong', geslacht: 'man', geschatteLeeftijd: 80 };
      },
    });
    const named = await request(tg.app).get(`/board/handovers/${spoken.taskId}`).set('Authorization', await tg.auth('hap-vechtdal'));
    expect((named.body as { row: { patient: unknown } }).row.patient).toEqual({ initials: 'P. de J.', age: 80, ageEstimated: true });
    const namedCell = b.page.locator(`tr[data-handover-id="${spoken.taskId}"] .patient`);
    await namedCell.waitFor({ timeout: 5000 });
    expect(await namedCell.textContent()).toBe('P. de J., ~80 jr');
  }, 60_000);

  it('wall mode at 1920×1080: at least 15 handovers at once, and all 20 come up by themselves; a screenshot', async () => {
    await twenty();
    const b = await open({ path: '/board?wand=1&wissel=3', viewport: { width: 1920, height: 1080 } });
    await signIn(b, 'zcc-ijsselland');
    const wall = await watchWall(b, 20, 40_000);
    expect(wall.mostAtOnce).toBeGreaterThanOrEqual(15);
    console.log(`wall mode 1920×1080: ${wall.seen.size} handovers, at most ${wall.mostAtOnce} at once, ${wall.pages} page(s)`);
    await expectNothingClipped(b);
    // No scroll bar on the wall: what is not shown is on a later page.
    expect(await b.page.$eval('html', (html) => html.scrollHeight <= html.ownerDocument.defaultView.innerHeight)).toBe(true);
    // The picture of the first page, as the room sees it most of the time.
    for (let wait = 0; wait < 50 && !/^(blad 1 van \d+)?$/.test((await b.page.textContent('#page')) ?? ''); wait++) await new Promise((resolve) => setTimeout(resolve, 200));
    await b.page.screenshot({ path: join(ARTIFACTS, 'board-wand.png') });
  }, 120_000);

  it('wall mode on a smaller screen pages through every handover by itself, without motion when reduced motion is asked', async () => {
    await twenty();
    const b = await open({ path: '/board?wand=1&wissel=3', viewport: { width: 1280, height: 560 }, reducedMotion: 'reduce' });
    await signIn(b, 'zcc-ijsselland');
    const wall = await watchWall(b, 20, 60_000);
    expect(wall.pages).toBeGreaterThan(1);
    await expectNothingClipped(b);
    await b.page.screenshot({ path: join(ARTIFACTS, 'board-wand-1280x560.png') });
    // Paging, not scrolling: the page never moves, and no animation runs.
    expect(await b.page.$eval('html', (html) => [html.ownerDocument.defaultView.scrollY, html.ownerDocument.getAnimations().length])).toEqual([0, 0]);
  }, 120_000);

  it('from 1280 px up no column is clipped, with or without wall mode', async () => {
    await twenty();
    for (const width of [1280, 1440, 1920]) {
      const b = await open({ viewport: { width, height: 900 } });
      await signIn(b, 'zcc-ijsselland');
      await b.page.locator('tr[data-handover-id]').nth(19).waitFor();
      await expectNothingClipped(b);
      if (width === 1280) await b.page.screenshot({ path: join(ARTIFACTS, 'board-1280.png') });
    }
    const wall = await open({ path: '/board?wand=1', viewport: { width: 1280, height: 1024 } });
    await signIn(wall, 'zcc-ijsselland');
    await wall.page.locator('tr[data-handover-id]').first().waitFor();
    await expectNothingClipped(wall);
  }, 120_000);
});
