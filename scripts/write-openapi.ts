// Writes the description exactly as the gateway serves it (npm run lint:openapi lints this file).
//   node scripts/write-openapi.ts [out.json] [publicUrl]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SearchParameterRegistry } from '../src/fhir/search/parameters.ts';
import { ROOT_DIR, VERSION } from '../src/gateway.ts';
import { gatewayOpenApi } from '../src/http/openapi-document.ts';

const [out, publicUrl = 'http://localhost:8080'] = process.argv.slice(2);
const registry = SearchParameterRegistry.load(join(ROOT_DIR, 'profiles/search-parameters/bundle.json'));
const text = `${JSON.stringify(gatewayOpenApi({ rootDir: ROOT_DIR, publicUrl, version: VERSION, registry }), null, 2)}\n`;
if (out) writeFileSync(out, text);
else process.stdout.write(text);
