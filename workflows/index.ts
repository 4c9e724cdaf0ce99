export { botLifecycle } from './bot-lifecycle.js';
