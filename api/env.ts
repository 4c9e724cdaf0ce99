import type { Permission } from '../lib/permissions.js';
import type { Principal } from './auth/principal.js';
import type { LimitDecision } from './middleware/rate-limit.js';

/** What a request carries through the middleware: the context type of every route and middleware, apart from the dependency bag (AppDeps in deps.ts). */
export type AppEnv = {
  Variables: {
    requestId: string;
    principal: Principal | null;
    /** The request-limit decision, when authentication already counted the request. */
    limit?: LimitDecision;
    /** The command socket's user, checked at the upgrade. */
    socketUser?: { token: string; userId: string; username: string; permissions: ReadonlySet<Permission> };
  };
};
