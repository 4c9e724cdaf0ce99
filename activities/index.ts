export { createActivities, type Activities, type ActivityDeps } from './create-activities.js';
