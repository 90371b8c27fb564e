import { readFileSync } from 'node:fs';

interface Urgency {
  scale: 'nts' | 'ambulance' | 'vvt';
  rank: number;
  /** Minutes the receiver has to answer; 0 is immediately, null is "at the agreed time" (no countdown). */
  targetMinutes: number | null;
  colour: string;
  label: string;
  /** What the badge shows when the code itself is too long for it (VVT codes). */
  short?: string;
  nts?: string;
  ambulance?: string;
  vvt?: string;
}

export interface BoardTargets {
  urgencies: Record<string, Urgency>;
  /** The urgency of a Task without a native code, by its FHIR priority. */
  byPriority: Record<string, string>;
}

/**
 * The board's urgencies and targets: `mappings/board/targets.json`, or the file `BOARD_TARGETS` names, or that
 * file with inline overrides of minutes (`BOARD_TARGETS={"U3":180}`). A wrong value stops the start.
 */
export function loadBoardTargets(defaultFile: string, setting: string | undefined): BoardTargets {
  const inline = setting?.trim().startsWith('{') ? setting : undefined;
  const file = setting && !inline ? setting : defaultFile;
  const targets = JSON.parse(readFileSync(file, 'utf8')) as BoardTargets;
  if (inline) {
    const overrides = JSON.parse(inline) as Record<string, unknown>;
    for (const [code, minutes] of Object.entries(overrides)) {
      const u = targets.urgencies[code];
      if (!u) throw new Error(`BOARD_TARGETS: unknown urgency '${code}' (known: ${Object.keys(targets.urgencies).join(', ')})`);
      if (minutes !== null && (typeof minutes !== 'number' || !Number.isFinite(minutes) || minutes < 0)) throw new Error(`BOARD_TARGETS: ${code} needs a number of minutes ≥ 0 or null`);
      u.targetMinutes = minutes;
    }
  }
  for (const [code, u] of Object.entries(targets.urgencies)) {
    if (typeof u.rank !== 'number' || (u.targetMinutes !== null && typeof u.targetMinutes !== 'number')) throw new Error(`Board targets: urgency ${code} needs a rank and targetMinutes`);
  }
  return targets;
}
