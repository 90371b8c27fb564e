// (i) of `npm run bench`: this run's figures against issue 19's aims (bench/aims.json), so that a run says itself which
// it met instead of each reader comparing a dozen lines by hand, and with the machine's floor beside the floor of the
// machine the aims were set on (absolute CPU figures move with the machine: the floor cost 1.7 to 5.7 ms per handover on
// the machines of these rounds).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuTotal, type CpuPerUnit } from './cpu-time.ts';
import type { FhirOpsResult } from './fhir-ops.ts';
import type { NotificationLatency } from './notification-latency.ts';
import type { LoadResult } from './stats.ts';

export interface Aim {
  figure: string;
  label: string;
  atLeast?: number;
  atMost?: number;
  unit: string;
}

interface AimsFile {
  floorWhereSetMs: number;
  aims: Aim[];
}

/** The figures an aim can name; undefined where this run did not measure it (no peer, a side's CPU unknown). */
export type Figures = Record<string, number | undefined>;

/** What a run measured, as run.ts holds it. */
export interface RunParts {
  ingest: LoadResult;
  ingestCpu: CpuPerUnit;
  rawCpu: CpuPerUnit;
  ops: Pick<FhirOpsResult, 'create' | 'read' | 'search'>;
  other?: Pick<FhirOpsResult, 'create' | 'read' | 'search'>;
  notifyFhir: Pick<NotificationLatency, 'offeredPerSecond' | 'commitToReceiver'>[];
  peakRssMb?: number;
}

export function loadAims(file = join(import.meta.dirname, '..', 'aims.json')): AimsFile {
  return JSON.parse(readFileSync(file, 'utf8')) as AimsFile;
}

export function figuresOf(run: RunParts): Figures {
  const ratio = (op: 'create' | 'read' | 'search'): number | undefined => (run.other ? run.ops[op].perSecond / run.other[op].perSecond : undefined);
  const p99At = (rate: number): number | undefined => run.notifyFhir.find((n) => n.offeredPerSecond === rate)?.commitToReceiver.p99;
  return {
    nativePerSecond: run.ingest.perSecond,
    nativeCpuMs: cpuTotal('gateway', run.ingestCpu),
    floorCpuMs: cpuTotal('client', run.rawCpu),
    createCpuMs: cpuTotal('gateway', run.ops.create.cpu),
    readCpuMs: cpuTotal('gateway', run.ops.read.cpu),
    searchCpuMs: cpuTotal('gateway', run.ops.search.cpu),
    notify100P99Ms: p99At(100),
    notify200P99Ms: p99At(200),
    peakRssMb: run.peakRssMb,
    createRatio: ratio('create'),
    readRatio: ratio('read'),
    searchRatio: ratio('search'),
  };
}

type Verdict = 'met' | 'not met' | 'not measured';

export function verdict(aim: Aim, value: number | undefined): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'not measured';
  if (aim.atLeast !== undefined && value < aim.atLeast) return 'not met';
  if (aim.atMost !== undefined && value > aim.atMost) return 'not met';
  return 'met';
}

const shown = (value: number, unit: string): string => `${value.toFixed(value >= 100 ? 1 : 2)} ${unit}`;

/** (i)'s lines: a heading with the count met and both floors, then one line per aim. */
export function aimLines(file: AimsFile, figures: Figures): string[] {
  const rows = file.aims.map((aim) => ({ aim, value: figures[aim.figure], verdict: verdict(aim, figures[aim.figure]) }));
  const measured = rows.filter((r) => r.verdict !== 'not measured');
  const met = measured.filter((r) => r.verdict === 'met').length;
  const floor = figures.floorCpuMs;
  const floorText = floor === undefined ? 'not measured here' : `${floor.toFixed(1)} ms per handover here`;
  const lines = [
    `(i) issue 19's aims (bench/aims.json): ${met} of ${measured.length} measured met; the floor (b) ${floorText}, ${file.floorWhereSetMs} ms where the aims were set`,
  ];
  for (const { aim, value, verdict: v } of rows) {
    const bound = aim.atLeast !== undefined ? `≥ ${aim.atLeast} ${aim.unit}` : `≤ ${aim.atMost} ${aim.unit}`;
    const figure = value === undefined || !Number.isFinite(value) ? '' : shown(value, aim.unit);
    lines.push(`    ${v.padEnd(12)} ${aim.label.padEnd(62)} ${figure.padStart(10)}   aim ${bound}`);
  }
  return lines;
}
