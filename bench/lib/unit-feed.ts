// (h) Responders on the road (issue 20): 200 units reporting every 2 s (100 fixes/s, open loop) through
// POST /native/eenheid, while a ZCC board is connected to /board/events and receives each fix as a `unit` event.
// Measures the fixes' answers and how long after a fix was sent it reached the board.
import { demoToken } from './gateway-process.ts';
import { LeanClient } from './lean-client.ts';
import { percentile } from './stats.ts';

const ORGS: { ura: string; client: string; kind: string; status: string }[] = [
  { ura: '90004567', client: 'rav-noordoost', kind: 'AMBULANCE_A', status: '5' },
  { ura: '90001234', client: 'hap-vechtdal', kind: 'VISITEARTS', status: 'VRIJ' },
  { ura: '90007890', client: 'vvt-ijsseldelta', kind: 'WIJKVERPLEGING', status: 'beschikbaar' },
  { ura: '90007891', client: 'vvt-sallandse-heuvelrug', kind: 'WIJKVERPLEGING', status: 'VRIJ' },
];

export interface UnitFeedResult {
  offeredPerSecond: number;
  sent: number;
  ok: number;
  errors: Record<string, number>;
  fixP50: number;
  fixP99: number;
  /** From sending a fix to its `unit` event on a connected ZCC board. */
  boardP50: number;
  boardP99: number;
  boardReceived: number;
  boardWithinSecond: number;
}

export interface UnitFeed {
  /** Starts sending (open loop) until stop(). */
  start(): void;
  stop(): Promise<UnitFeedResult>;
  close(): Promise<void>;
}

/**
 * `batched`: each organisation's system sends all its units' fixes in one request every `everySeconds` (the
 * organisations in turn); otherwise every fix is a request of its own, as a unit's own device would send it.
 */
export async function unitFeed(url: string, units = 200, everySeconds = 2, batched = false): Promise<UnitFeed> {
  const tokens = await Promise.all(ORGS.map((o) => demoToken(url, o.client)));
  const zcc = await demoToken(url, 'zcc-ijsselland');
  const perSecond = units / everySeconds;
  const sentAt = new Map<string, number>();
  const fixLatencies: number[] = [];
  const boardLatencies: number[] = [];
  const errors: Record<string, number> = {};
  let sent = 0;
  let ok = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void>[] = [];
  let lastTime = 0;
  // Open loop: as many connections as fixes in flight, as fetch opened; node:http for the benchmark's own CPU
  // (LeanClient). New at each start() and closed at stop(): a connection left idle between slices may be closed by
  // the gateway (its keep-alive timeout) just as the next slice sends on it.
  let poster = new LeanClient(url, Number.POSITIVE_INFINITY);

  // The board: a ZCC's stream, parsed as the page parses it.
  const board = new AbortController();
  const listening = (async () => {
    const res = await fetch(`${url}/board/events`, { headers: { Authorization: `Bearer ${zcc}`, Accept: 'text/event-stream' }, signal: board.signal });
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!block.includes('event: unit\n')) continue;
        const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { id: string; fixTime: string };
        const t = sentAt.get(`${data.id} ${data.fixTime}`);
        if (t !== undefined) boardLatencies.push(performance.now() - t);
      }
    }
  })().catch(() => undefined);

  /** Fix number `n` (unit n % units, of organisation n % 4), stamped now. */
  const fix = (n: number, t: number): { o: number; record: Record<string, unknown> } => {
    const o = n % ORGS.length;
    const org = ORGS[o]!;
    const unit = Math.floor(n % units);
    // Distinct, increasing times (ms): a fix per unit per 2 s, never two at the same instant.
    const now = Math.max(Date.now(), lastTime + 1);
    lastTime = now;
    const tijd = new Date(now).toISOString();
    const callSign = `B-${unit}`;
    const lat = 52.2 + ((unit * 37) % 60) / 100 + (n % 7) / 10_000;
    const lon = 5.9 + ((unit * 53) % 90) / 100;
    sentAt.set(`unit-${org.ura}-${callSign} ${tijd}`, t);
    return { o, record: { berichttype: 'EENHEID_STATUS', ura: org.ura, roepnaam: callSign, soort: org.kind, status: org.status, positie: { lat, lon, nauwkeurigheid: 10 }, tijd } };
  };
  const post = (o: number, body: string, count: number, t: number): void => {
    sent += count;
    const p = poster
      .post('/native/eenheid', { Authorization: `Bearer ${tokens[o] ?? ''}`, 'Content-Type': 'application/json' }, body)
      .then((status) => {
        fixLatencies.push(performance.now() - t);
        if (status === 200) ok += count;
        else errors[`HTTP ${status}`] = (errors[`HTTP ${status}`] ?? 0) + 1;
      })
      .catch((err: unknown) => {
        const k = (err as Error).message.slice(0, 60);
        errors[k] = (errors[k] ?? 0) + 1;
      });
    inFlight.push(p);
  };
  const send = (n: number): void => {
    const t = performance.now();
    const { o, record } = fix(n, t);
    post(o, JSON.stringify(record), 1, t);
  };
  /** Organisation `o`'s system reports all its units at once. */
  const sendOrganisation = (o: number): void => {
    const t = performance.now();
    const records: Record<string, unknown>[] = [];
    for (let n = o; n < units; n += ORGS.length) records.push(fix(n, t).record);
    post(o, JSON.stringify(records), records.length, t);
  };

  return {
    start() {
      poster.close();
      poster = new LeanClient(url, Number.POSITIVE_INFINITY);
      const started = performance.now();
      let n = 0;
      // Open loop: the fixes due by now are sent, whatever the answers do (a tick every 10 ms).
      timer = setInterval(() => {
        if (batched) {
          // The organisations in turn, each every `everySeconds`.
          const due = Math.floor((performance.now() - started) / ((everySeconds * 1000) / ORGS.length));
          while (n < due) sendOrganisation(n++ % ORGS.length);
        } else {
          const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
          while (n < due) send(n++);
        }
        if (inFlight.length > 1000) inFlight = inFlight.slice(-1000);
      }, 10);
    },
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.all(inFlight);
      poster.close();
      // The last fixes' board events: a moment to arrive.
      await new Promise((r) => setTimeout(r, 1500));
      const fix = [...fixLatencies].sort((a, b) => a - b);
      const boardSorted = [...boardLatencies].sort((a, b) => a - b);
      return {
        offeredPerSecond: perSecond,
        sent,
        ok,
        errors,
        fixP50: percentile(fix, 50),
        fixP99: percentile(fix, 99),
        boardP50: percentile(boardSorted, 50),
        boardP99: percentile(boardSorted, 99),
        boardReceived: boardSorted.length,
        boardWithinSecond: boardSorted.filter((l) => l <= 1000).length,
      };
    },
    async close() {
      poster.close();
      board.abort();
      await listening;
    },
  };
}
