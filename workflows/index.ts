export { botLifecycle } from './bot-lifecycle.js';
export { botDeployment } from './bot-deployment.js';
