// Installed by jest.config.js (setupFilesAfterEnv): in every test, a resource the shortcut of the R4 base validation
// accepts (src/fhir/validation/base-accept.ts) is walked as well, and one the walk refuses throws (the request fails
// with a 500), so that every resource a test writes checks that the shortcut accepts nothing the walk refuses.
import { verifyBaseAcceptance } from '../../src/fhir/validation/base-validation.ts';

verifyBaseAcceptance(true);
