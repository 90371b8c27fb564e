// Each handover format's ingest texts (mappings/<format>/ingest.json, src/handover/ingest-texts.ts): the paths its
// refusals name are fields of that format's own schema, and a malformed file stops the start.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIngestTexts } from '../../src/handover/ingest-texts.ts';
import { NATIVE_FORMATS } from '../../src/native/types.ts';

const MAPPINGS = join(import.meta.dirname, '../../mappings');

describe('loadIngestTexts', () => {
  const texts = loadIngestTexts(MAPPINGS);

  test.each(NATIVE_FORMATS)('%s: the sequence and handover-id paths are top-level fields of its schema', (format) => {
    const schema = JSON.parse(readFileSync(join(MAPPINGS, format, 'schema.json'), 'utf8')) as { properties?: Record<string, unknown> };
    for (const path of [texts[format].paths.sequence, texts[format].paths.handoverId]) {
      expect(path).toMatch(/^\$\.[a-z_A-Z]+$/);
      expect(Object.keys(schema.properties ?? {})).toContain(path.slice(2));
    }
  });

  test('vvt names its own fields, not those of nts', () => {
    expect(texts.vvt.paths).toEqual({ sequence: '$.mutatie_nr', handoverId: '$.overdracht_id' });
    expect(texts.nts.paths).toEqual({ sequence: '$.volgnummer', handoverId: '$.overdrachtId' });
  });

  test('a file without a reason is refused at load, naming the file and the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ingest-texts-'));
    try {
      for (const format of NATIVE_FORMATS) {
        mkdirSync(join(dir, format));
        writeFileSync(join(dir, format, 'ingest.json'), readFileSync(join(MAPPINGS, format, 'ingest.json')));
      }
      writeFileSync(join(dir, 'vvt', 'ingest.json'), JSON.stringify({ paths: { sequence: '$.mutatie_nr', handoverId: '$.overdracht_id' }, reasons: { readdressed: 'x' } }));
      expect(() => loadIngestTexts(dir)).toThrow(/vvt[\\/]ingest\.json: 'withdrawn' must be a non-empty string/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
