export { createActivities, type Activities, type ActivityDeps } from './create-activities.js';
export { LocalRuntime } from './runtime/local-runtime.js';
export type { BotRuntime, RuntimeEvent, InstanceRef, LaunchedInstance } from './runtime/types.js';
