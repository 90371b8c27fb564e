// Installed by jest.config.js (setupFilesAfterEnv): in every test, each mapping evaluation is made by the generated
// functions (src/native/mapping/generate.ts) and by the interpreter that says what a template means, and a difference
// throws, so that every record a test maps or renders checks the generated code.
import { verifyGeneratedMapping } from '../../src/native/mapping/evaluate.ts';

verifyGeneratedMapping(true);
