// A bad mapping file fails at load, naming the file and the entry; and the cost of mapping one record.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { example, exampleNames, formatOf, MAPPINGS_DIR, storeRequest } from './mapping-support.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mappings-'));
  cpSync(MAPPINGS_DIR, dir, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function edit(file: string, change: (json: Record<string, any>) => void): string {
  const path = join(dir, file);
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  change(json);
  writeFileSync(path, JSON.stringify(json));
  return path;
}

describe('loading mapping files', () => {
  it('an unknown transform names the file and the entry', () => {
    const path = edit('nts/to-fhir.json', (j) => (j.resources.patient.birthDate = { $fn: 'toKlingon', $value: 'patient.geboortedatum' }));
    expect(() => loadNativeMapper(dir)).toThrow(`${path}: resources.patient.birthDate: unknown transform "toKlingon"`);
  });

  it('FHIRPath that does not compile names the file and the entry', () => {
    const path = edit('ambulance/to-fhir.json', (j) => (j.resources.patient.birthDate = '=patient.geboortedatum.where('));
    expect(() => loadNativeMapper(dir)).toThrow(new RegExp(`^${path}: resources\\.patient\\.birthDate: FHIRPath does not compile`));
  });

  it('an unknown FHIR target path names the file and the entry', () => {
    const path = edit('vvt/to-fhir.json', (j) => (j.resources.patient.birthdate = '=client_geboortedatum'));
    expect(() => loadNativeMapper(dir)).toThrow(`${path}: resources.patient.birthdate: unknown target path birthdate in FHIR Patient`);
  });

  it('an unknown native target path names the file and the entry', () => {
    const path = edit('nts/from-fhir.json', (j) => (j.perspectives.receiver.template.hap.telefoon = '=%owner.name'));
    expect(() => loadNativeMapper(dir)).toThrow(`${path}: perspectives.receiver.template.hap.telefoon: unknown target path telefoon in nts.hap`);
  });

  it('an unknown variable, fragment or directive is refused', () => {
    edit('nts/to-fhir.json', (j) => (j.resources.patient.gender = '=%nope'));
    expect(() => loadNativeMapper(dir)).toThrow(/resources\.patient\.gender: unknown variable %nope/);
    cpSync(MAPPINGS_DIR, dir, { recursive: true });
    edit('vvt/from-fhir.json', (j) => (j.perspectives.receiver.template.$use = 'nothing'));
    expect(() => loadNativeMapper(dir)).toThrow(/perspectives\.receiver\.template: unknown fragment "nothing"/);
    cpSync(MAPPINGS_DIR, dir, { recursive: true });
    edit('vvt/to-fhir.json', (j) => (j.resources.patient.$wen = 'true'));
    expect(() => loadNativeMapper(dir)).toThrow(/resources\.patient: unknown directive \$wen/);
  });

  it('a transform with the wrong arguments is refused', () => {
    edit('nts/to-fhir.json', (j) => (j.resources.patient.gender = { $fn: 'translate', $value: 'patient.geslacht' }));
    expect(() => loadNativeMapper(dir)).toThrow(/resources\.patient\.gender: transform translate takes 1\.\.2 arguments, got 0/);
  });

  it('adding a mapped field is a data change only', () => {
    edit('nts/to-fhir.json', (j) => (j.resources.patient.active = true));
    expect(loadNativeMapper(dir).toFhir('nts', example('nts-u5-zelfzorg-zonder-overdracht.json')).patient.active).toBe(true);
  });
});

describe('cost of mapping', () => {
  it('maps and renders each example in well under a millisecond (figures in the log)', () => {
    const mapper = loadNativeMapper(MAPPINGS_DIR);
    const names = exampleNames();
    const records = names.map((n) => [formatOf(n), example(n)] as const);
    for (const [f, r] of records) mapper.toFhir(f, r);
    const rounds = 200;
    let t = performance.now();
    for (let i = 0; i < rounds; i++) for (const [f, r] of records) mapper.toFhir(f, r);
    const toFhirUs = ((performance.now() - t) / (rounds * records.length)) * 1000;
    const views = records.map(([f, r]) => [f, storeRequest(mapper.toFhir(f, r), 'HAP')] as const);
    t = performance.now();
    for (let i = 0; i < rounds; i++) for (const [f, v] of views) mapper.render(f, v, 'requester', 1);
    const renderUs = ((performance.now() - t) / (rounds * views.length)) * 1000;
    console.log(`mapping: toFhir ${toFhirUs.toFixed(0)} µs, render ${renderUs.toFixed(0)} µs per record (mean over the examples)`);
    // Loose bound: test machines are shared and jest runs modules in a VM context; the figure is in the log.
    expect(toFhirUs).toBeLessThan(20_000);
  });
});
