import type { z } from '@hono/zod-openapi';
import { problemSchema } from './problem.js';

const problemDescriptions: Record<number, string> = {
  400: 'Malformed request (e.g. the body is not JSON)',
  404: 'No such resource',
  409: 'Conflicts with the current state; the detail says what to do',
  413: 'Body larger than API_MAX_BODY_BYTES',
  415: 'Body is not application/json',
  422: 'Validation failed; `errors` lists each field',
  429: 'Too many requests; wait Retry-After seconds (RateLimit-* headers say more)',
  401: 'Not authenticated (WWW-Authenticate: Bearer); log in or send an API key',
  403: 'Authenticated, but the role or key lacks the permission',
  503: 'A dependency (Temporal, the database) is unavailable; nothing was changed',
};

/** The problem+json responses of a route, for the OpenAPI document. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(s)]));
}

function problemResponse(status: number) {
  return {
    description: problemDescriptions[status] ?? 'Error',
    content: { 'application/problem+json': { schema: problemSchema } },
  };
}

/** The same, as it stands in a generated document (the schema by reference). */
export function problemResponseRef(status: number) {
  return {
    description: problemDescriptions[status] ?? 'Error',
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

export function jsonBody<T extends z.ZodType>(schema: T, opts: { required: boolean } = { required: true }) {
  return { content: { 'application/json': { schema } }, required: opts.required } as const;
}
