// The unit tier alone (`npm run test:unit`): see jest.config.js.
import { unit } from './jest.config.js';

export default { ...unit, testTimeout: 30000 };
