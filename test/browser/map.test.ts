// The board's map (issue 20) in headless chromium against a gateway on PostgreSQL, with the network cut off but for
// the gateway on loopback: 20 units at their positions, a move and a status change shown within a second (a wait on
// the DOM), a stale unit marked stale, a non-ZCC board showing its own units only, the scenarios' handovers at their
// postcode areas, keyboard focus on the symbols, the nearest free units of a handover and asking one, no request
// leaving loopback. Leaves test/artifacts/map.png (gitignored, for review by eye).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { DEMO_SECRET, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, setBsn, uniqueRide, type Native, type NativeRecord } from '../support/native.ts';
import { sendFix, type UnitRecord } from '../units/support.ts';
import { startBoardHarness, type BoardHarness } from './board-harness.ts';
import { SKIP_BROWSER_TESTS } from './chromium.ts';

const LIVE_MS = 1000;
const ARTIFACTS = join(import.meta.dirname, '../artifacts');

const RAV = '90004567';
const HAP = '90001234';
const IJSSELDELTA = '90007890';
const SALLAND = '90007891';
const CLIENT: Record<string, DemoClient> = { [RAV]: 'rav-noordoost', [HAP]: 'hap-vechtdal', [IJSSELDELTA]: 'vvt-ijsseldelta', [SALLAND]: 'vvt-sallandse-heuvelrug' };

/** 20 units spread over the region: [ura, call sign, kind, own status code, lat, lon]. */
const FLEET: [string, string, string, string, number, number][] = [
  [RAV, '04-101', 'AMBULANCE_A', '5', 52.518, 6.082],
  [RAV, '04-102', 'AMBULANCE_A', '1', 52.556, 5.93],
  [RAV, '04-103', 'AMBULANCE_A', '2', 52.262, 6.17],
  [RAV, '04-104', 'AMBULANCE_A', '6', 52.575, 6.61],
  [RAV, '04-105', 'AMBULANCE_A', '3', 52.39, 6.27],
  [RAV, '04-201', 'AMBULANCE_B', '5', 52.5, 6.11],
  [RAV, '04-202', 'AMBULANCE_B', '8', 52.79, 6.12],
  [RAV, '04-901', 'MMT', '5', 52.51, 6.09],
  [RAV, '04-801', 'RAPID_RESPONDER', '5', 52.64, 6.2],
  [HAP, 'HAP-V1', 'VISITEARTS', 'VRIJ', 52.525, 6.42],
  [HAP, 'HAP-V2', 'VISITEARTS', 'VISITE', 52.51, 6.25],
  [HAP, 'HAP-V3', 'VISITEARTS', 'RIJDT', 52.6, 6.1],
  [HAP, 'HAP-V4', 'VISITEARTS', 'UIT', 52.33, 6.12],
  [IJSSELDELTA, 'NACHT-1', 'WIJKVERPLEGING', 'beschikbaar', 52.49, 6.06],
  [IJSSELDELTA, 'NACHT-2', 'WIJKVERPLEGING', 'bij_client', 52.556, 5.915],
  [IJSSELDELTA, 'NACHT-3', 'WIJKVERPLEGING', 'onderweg', 52.68, 5.96],
  [IJSSELDELTA, 'NACHT-4', 'WIJKVERPLEGING', 'pauze', 52.63, 6.04],
  [SALLAND, 'SH-N1', 'WIJKVERPLEGING', 'VRIJ', 52.388, 6.29],
  [SALLAND, 'SH-N2', 'WIJKVERPLEGING', 'BEZOEK', 52.44, 6.34],
  [SALLAND, 'SH-N3', 'WIJKVERPLEGING', 'VRIJ', 52.255, 6.2],
];
const STALE = 'SH-N3';

function record([ura, callSign, kind, status, lat, lon]: (typeof FLEET)[number], at: Date): UnitRecord {
  return { berichttype: 'EENHEID_STATUS', ura, roepnaam: callSign, soort: kind, status, positie: { lat, lon, nauwkeurigheid: 10 }, tijd: at.toISOString() };
}
const idOf = (ura: string, callSign: string): string => `unit-${ura}-${callSign}`;

/** Web Mercator world pixels at zoom 12, as map.js draws them. */
function projected(lat: number, lon: number): { x: number; y: number } {
  const world = 256 * 2 ** 12;
  const r = (lat * Math.PI) / 180;
  return { x: ((lon + 180) / 360) * world, y: ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * world };
}

(SKIP_BROWSER_TESTS ? describe.skip : describe)('the board map in headless chromium, network cut off', () => {
  let harness: BoardHarness | undefined;
  let tg: TestGateway;
  let native: Native;
  let origin: string;
  let browser: Browser;
  const leftLoopback: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    harness = await startBoardHarness();
    ({ tg, native, origin, browser } = harness);
    const now = Date.now();
    for (const unit of FLEET) {
      const at = new Date(unit[1] === STALE ? now - 10 * 60_000 : now - 2_000);
      const res = await sendFix(tg, record(unit, at), CLIENT[unit[0]]!);
      if (res.status !== 200) throw new Error(`fix of ${unit[1]}: ${res.status} ${res.text}`);
    }
  }, 60_000);
  afterAll(async () => {
    await harness?.stop();
  });
  afterEach(() => {
    expect(problems).toEqual([]);
    expect(leftLoopback).toEqual([]);
  });

  async function signIn(client: DemoClient): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' });
    // The network is cut off: only loopback answers; anything else is recorded and refused.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return route.continue();
      leftLoopback.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${origin}/board`);
    await page.fill('#client-id', client);
    await page.fill('#client-secret', DEMO_SECRET);
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('body[data-sync="snapshot"]', { timeout: 10_000 });
    await page.waitForSelector('body[data-map-units="ready"]', { timeout: 10_000 });
    return page;
  }

  const unit = (page: Page, id: string) => page.locator(`#map-units g[data-unit-id="${id}"]`);
  const shownUnits = (page: Page): Promise<string[]> => page.$$eval('#map-units g[data-unit-id]', (gs) => gs.map((g) => g.getAttribute('data-unit-id') ?? ''));
  let zcc: Page;

  it('shows the ZCC every unit at its position, by kind and status, the stale one marked stale', async () => {
    zcc = await signIn('zcc-ijsselland');
    expect((await shownUnits(zcc)).sort()).toEqual(FLEET.map(([ura, cs]) => idOf(ura, cs)).sort());
    for (const [ura, cs, kind, , lat, lon] of FLEET) {
      const g = unit(zcc, idOf(ura, cs));
      await expect(g.getAttribute('data-kind')).resolves.toBe(kind);
      const m = /translate\(([-\d.]+) ([-\d.]+)\)/.exec((await g.getAttribute('transform')) ?? '');
      const want = projected(lat, lon);
      expect(Math.abs(Number(m?.[1]) - want.x)).toBeLessThan(0.2);
      expect(Math.abs(Number(m?.[2]) - want.y)).toBeLessThan(0.2);
      // On screen, inside the map.
      expect(await g.isVisible()).toBe(true);
    }
    await expect(unit(zcc, idOf(RAV, '04-101')).getAttribute('data-status')).resolves.toBe('beschikbaar');
    await expect(unit(zcc, idOf(RAV, '04-103')).getAttribute('data-status')).resolves.toBe('ter-plaatse');
    await expect(unit(zcc, idOf(HAP, 'HAP-V4')).getAttribute('data-status')).resolves.toBe('buiten-dienst');
    await expect(unit(zcc, idOf(SALLAND, STALE)).getAttribute('data-stale')).resolves.toBe('true');
    await expect(unit(zcc, idOf(SALLAND, 'SH-N1')).getAttribute('data-stale')).resolves.toBe('false');
    expect(await unit(zcc, idOf(SALLAND, STALE)).getAttribute('aria-label')).toContain('verouderd');
  }, 60_000);

  it('moves a unit and changes its status within a second of the fix', async () => {
    const fix = record([RAV, '04-101', 'AMBULANCE_A', '1', 52.47, 6.2], new Date());
    expect((await sendFix(tg, fix, 'rav-noordoost')).status).toBe(200);
    await zcc.waitForSelector(`#map-units g[data-unit-id="${idOf(RAV, '04-101')}"][data-status="onderweg"][data-lat="52.47"][data-lon="6.2"]`, { timeout: LIVE_MS });
    const want = projected(52.47, 6.2);
    const m = /translate\(([-\d.]+) ([-\d.]+)\)/.exec((await unit(zcc, idOf(RAV, '04-101')).getAttribute('transform')) ?? '');
    expect(Math.abs(Number(m?.[1]) - want.x)).toBeLessThan(0.2);
    // A stale unit that reports again is no longer stale.
    expect((await sendFix(tg, record(FLEET.find((u) => u[1] === STALE)!, new Date()), 'vvt-sallandse-heuvelrug')).status).toBe(200);
    await zcc.waitForSelector(`#map-units g[data-unit-id="${idOf(SALLAND, STALE)}"][data-stale="false"]`, { timeout: LIVE_MS });
    const older = record([RAV, '04-101', 'AMBULANCE_A', '5', 52.9, 6.9], new Date(Date.now() - 60_000));
    expect((await sendFix(tg, older, 'rav-noordoost')).headers['x-unit-fix']).toBe('older');
    await expect(unit(zcc, idOf(RAV, '04-101')).getAttribute('data-status')).resolves.toBe('onderweg');
  }, 30_000);

  it('shows a non-ZCC organisation its own units only', async () => {
    const rav = await signIn('rav-noordoost');
    const shown = await shownUnits(rav);
    expect(shown.sort()).toEqual(FLEET.filter(([ura]) => ura === RAV).map(([ura, cs]) => idOf(ura, cs)).sort());
    // Nor does a live fix of another organisation reach it.
    expect((await sendFix(tg, record([HAP, 'HAP-V1', 'VISITEARTS', 'RIJDT', 52.53, 6.43], new Date()), 'hap-vechtdal')).status).toBe(200);
    await zcc.waitForSelector(`#map-units g[data-unit-id="${idOf(HAP, 'HAP-V1')}"][data-status="onderweg"]`, { timeout: LIVE_MS });
    expect(await shownUnits(rav)).not.toContain(idOf(HAP, 'HAP-V1'));
    const hap = await signIn('hap-vechtdal');
    expect((await shownUnits(hap)).every((id) => id.startsWith(`unit-${HAP}-`))).toBe(true);
    await rav.context().close();
    await hap.context().close();
  }, 60_000);

  it('puts the scenarios\' handovers at their areas, reachable by keyboard, and leaves a screenshot', async () => {
    const place = (postcode: string, city: string) => (r: NativeRecord) => {
      r.patient.adres.postcode = postcode;
      r.patient.adres.plaats = city;
    };
    const s1 = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    const accepted = fillHandover(setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), s1.bsn), s1.taskId);
    Object.assign(accepted, uniqueRide());
    await native.sendOk('ambulance', accepted, 'rav-noordoost');
    const kampen = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal', { edit: place('8261AB', 'Kampen') });
    const raalte = await native.createHandover('nts-u3-naar-wijkverpleging.json', 'hap-vechtdal', { edit: place('8101AA', 'Raalte') });
    const zccRequest = await native.createHandover('vvt-aanvraag-van-zcc.json', 'zcc-ijsselland');
    for (const id of [s1.taskId, kampen.taskId, raalte.taskId, zccRequest.taskId]) await zcc.waitForSelector(`#map-handovers g[data-handover-id="${id}"]`, { timeout: 5_000 });
    const pin = zcc.locator(`#map-handovers g[data-handover-id="${kampen.taskId}"]`);
    const m = /translate\(([-\d.]+) ([-\d.]+)\)/.exec((await pin.getAttribute('transform')) ?? '');
    expect(Math.abs(Number(m?.[1]) - projected(52.555, 5.911).x)).toBeLessThan(1);
    // Keyboard: the pin takes focus and Enter opens the handover's timeline.
    await pin.focus();
    await zcc.keyboard.press('Enter');
    await zcc.waitForSelector('#detail-timeline li time');
    await zcc.keyboard.press('Escape');
    // Closing the detail gives the focus back to its row (board.js): only then move it to a unit.
    await zcc.waitForSelector('#detail', { state: 'hidden' });
    await zcc.waitForSelector('tr[data-handover-id]:focus');
    await unit(zcc, idOf(RAV, '04-102')).focus();
    expect(await zcc.locator('#map-units g:focus').getAttribute('aria-label')).toMatch(/A-ambulance 04-102 \(RAV Noordoost\): Onderweg/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await zcc.locator('#map').screenshot({ path: join(ARTIFACTS, 'map.png') });
  }, 60_000);

  it('lists the nearest free units of a handover by travel time, and the ZCC asks one through the API', async () => {
    const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal', {
      edit: (r: NativeRecord) => {
        r.patient.adres.postcode = '8261AB';
        r.patient.adres.plaats = 'Kampen';
      },
    });
    await zcc.waitForSelector(`#map-handovers g[data-handover-id="${taskId}"]`, { timeout: 5_000 });
    await zcc.locator(`#map-handovers g[data-handover-id="${taskId}"]`).focus();
    await zcc.keyboard.press('Enter');
    await zcc.waitForSelector(`#detail-nearest[data-for="${taskId}"] li[data-unit-id]`, { timeout: 5_000 });
    const listed = await zcc.$$eval('#detail-candidates li[data-unit-id]', (lis) => lis.map((li) => ({ id: li.getAttribute('data-unit-id') ?? '', text: li.textContent ?? '' })));
    // The same ranking as the API's, and never a busy, off-duty or stale unit.
    const api = JSON.parse((await native.get(`/fhir/Task/${taskId}/$candidates`, 'zcc-ijsselland')).text) as { entry?: { resource?: { id?: string }; search?: { mode?: string } }[] };
    const ranked = (api.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id ?? '');
    expect(listed.map((l) => l.id)).toEqual(ranked.slice(0, 8));
    expect(listed.length).toBeGreaterThan(0);
    for (const { id } of listed) {
      await expect(unit(zcc, id).getAttribute('data-status')).resolves.toBe('beschikbaar');
      await expect(unit(zcc, id).getAttribute('data-stale')).resolves.toBe('false');
    }
    expect(listed[0]!.text).toMatch(/km · ~\d+ min/);
    await zcc.locator('#detail-candidates li[data-unit-id] button.ask').first().click();
    await zcc.locator('#detail-message').filter({ hasText: /Aangevraagd bij|mislukt/ }).waitFor({ timeout: 5_000 });
    expect(await zcc.locator('#detail-message').textContent()).toMatch(/Aangevraagd bij RAV Noordoost/);
    // The RAV now has a Task of the ZCC about this handover's request.
    const original = await native.read<Task>(`Task/${taskId}`, 'zcc-ijsselland');
    const ravTasks = JSON.parse((await native.get(`/fhir/Task?owner=${encodeURIComponent(await tg.organizationRef('rav-noordoost'))}&_count=100`, 'rav-noordoost')).text) as { entry?: { resource?: { focus?: { reference?: string }; requester?: { reference?: string }; id?: string } }[] };
    const zccRef = await tg.organizationRef('zcc-ijsselland');
    expect((ravTasks.entry ?? []).some((e) => e.resource?.focus?.reference === original.focus?.reference && e.resource?.requester?.reference === zccRef && e.resource?.id !== taskId)).toBe(true);
  }, 60_000);
});
