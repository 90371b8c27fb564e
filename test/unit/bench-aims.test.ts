import { aimLines, figuresOf, loadAims, verdict, type RunParts } from '../../bench/lib/aims.ts';

const load = (perSecond: number) => ({ ok: perSecond * 10, errors: {}, seconds: 10, perSecond, p50: 1, p99: 2 });
const op = (perSecond: number, gatewayMs: number, postgresMs: number) => ({ ...load(perSecond), cpu: { selfMs: 0, gatewayMs, postgresMs }, perSlice: [] });

function run(over: Partial<RunParts> = {}): RunParts {
  return {
    ingest: load(310),
    ingestCpu: { selfMs: 0, gatewayMs: 2.5, postgresMs: 2 },
    rawCpu: { selfMs: 1, gatewayMs: undefined, postgresMs: 2.7 },
    ops: { create: op(600, 1, 1.2), read: op(2000, 0.3, 0.2), search: op(800, 0.8, 0.6) },
    other: { create: op(280, 3.4, 1.9), read: op(1000, 1.1, 0), search: op(400, 2.3, 0.4) },
    notifyFhir: [
      { offeredPerSecond: 100, commitToReceiver: { p50: 3, p99: 19.9, max: 40 } },
      { offeredPerSecond: 200, commitToReceiver: { p50: 9, p99: 54, max: 90 } },
    ],
    peakRssMb: 380,
    ...over,
  };
}

describe('bench (i): the run against issue 19 aims', () => {
  const file = loadAims();

  it('reads every aim of the file with a bound and a figure the run computes', () => {
    const figures = figuresOf(run());
    expect(file.aims.length).toBe(11);
    for (const aim of file.aims) {
      expect(aim.atLeast !== undefined || aim.atMost !== undefined).toBe(true);
      expect(Object.keys(figures)).toContain(aim.figure);
    }
  });

  it('computes CPU totals, ratios by throughput and the notification tail at each rate', () => {
    const f = figuresOf(run());
    expect(f.nativeCpuMs).toBeCloseTo(4.5);
    expect(f.floorCpuMs).toBeCloseTo(3.7);
    expect(f.createCpuMs).toBeCloseTo(2.2);
    expect(f.readCpuMs).toBeCloseTo(0.5);
    expect(f.createRatio).toBeCloseTo(600 / 280);
    expect(f.searchRatio).toBeCloseTo(2);
    expect(f.notify100P99Ms).toBe(19.9);
    expect(f.notify200P99Ms).toBe(54);
  });

  it('judges both kinds of bound, the bound itself counting as met', () => {
    expect(verdict({ figure: 'x', label: 'x', atMost: 0.4, unit: 'ms' }, 0.4)).toBe('met');
    expect(verdict({ figure: 'x', label: 'x', atMost: 0.4, unit: 'ms' }, 0.41)).toBe('not met');
    expect(verdict({ figure: 'x', label: 'x', atLeast: 2, unit: '×' }, 1.99)).toBe('not met');
    expect(verdict({ figure: 'x', label: 'x', atLeast: 2, unit: '×' }, 2)).toBe('met');
    expect(verdict({ figure: 'x', label: 'x', atLeast: 2, unit: '×' }, undefined)).toBe('not measured');
    expect(verdict({ figure: 'x', label: 'x', atLeast: 2, unit: '×' }, Number.NaN)).toBe('not measured');
  });

  it('prints one line per aim and counts only what was measured: without a peer the ratios are not measured', () => {
    const lines = aimLines(file, figuresOf(run({ other: undefined, peakRssMb: undefined })));
    expect(lines).toHaveLength(1 + file.aims.length);
    // Measured: 7 (11 less three ratios and the RSS); not met: read 0.5 > 0.4 and 200/s 54 > 50.
    expect(lines[0]).toContain('5 of 7 measured met');
    expect(lines[0]).toContain('the floor (b) 3.7 ms per handover here, 6.2 ms where the aims were set');
    expect(lines.filter((l) => l.trimStart().startsWith('not measured'))).toHaveLength(4);
    expect(lines.find((l) => l.includes('Task read, CPU'))).toMatch(/^\s+not met\s.*0\.50 ms\s+aim ≤ 0\.4 ms$/);
    expect(lines.find((l) => l.includes('native NTS handovers per second'))).toMatch(/^\s+met\s.*310\.0 \/s\s+aim ≥ 300 \/s$/);
  });
});
