export { freePort } from '../../lib/scratch.js';
