import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { problemNextSteps } from '../middleware/guidance.js';

/** RFC 9457 problem details: the one error shape of the API. */
export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://codex32.dev/problems/validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().openapi({ description: 'What went wrong and what to do about it.' }),
    message: z.string().openapi({ description: 'Same as detail, for clients that read "message".' }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    next_steps: z
      .array(z.string())
      .optional()
      .openapi({ description: 'What to do next, added by the guided-response layer' }),
    request_id: z.string().optional(),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof problemSchema>;

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly kind: string,
    readonly title: string,
    detail: string,
    readonly errors?: Array<{ path: string; message: string }>,
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string, id: string) =>
  new ApiError(
    404,
    'not-found',
    'Not found',
    `${what} "${id}" does not exist. List what exists with GET /api/v1/bots.`,
  );

/** What `lookup` found, or 404 saying what does not exist: the one find-or-404 of the routes. */
export async function found<T>(lookup: Promise<T | undefined | null>, what: string, id: string): Promise<T> {
  const row = await lookup;
  if (row === undefined || row === null) throw notFound(what, id);
  return row;
}

export function problemResponse(c: Context, error: ApiError): Response {
  const body: Problem = {
    type: `https://codex32.dev/problems/${error.kind}`,
    title: error.title,
    status: error.status,
    detail: error.message,
    message: error.message,
    ...(error.errors ? { errors: error.errors } : {}),
    next_steps: problemNextSteps(error.status),
    request_id: c.get('requestId' as never) as string | undefined,
  };
  return c.body(JSON.stringify(body), error.status, { ...error.headers, 'Content-Type': 'application/problem+json' });
}

export function validationError(error: ZodError, where: string): ApiError {
  const errors = error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || where;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      return {
        path,
        message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}: remove ${keys.length > 1 ? 'them' : 'it'}`,
      };
    }
    if (issue.code === 'invalid_key') {
      // The record key's own rule says more than zod's "Invalid key in record".
      const inner = (issue as { issues?: Array<{ message: string }> }).issues ?? [];
      return { path, message: `invalid name: ${inner.map((i) => i.message).join('; ') || issue.message}` };
    }
    return { path, message: issue.message };
  });
  const summary = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  return new ApiError(
    422,
    'validation',
    'Invalid request',
    `The ${where} is invalid: ${summary}. Nothing was changed.`,
    errors,
  );
}

/** Hono's own exceptions (malformed JSON, body limits) in our shape. */
export function fromHttpException(err: HTTPException): ApiError {
  if (err.status === 400 && /Malformed JSON/i.test(err.message)) {
    return new ApiError(
      400,
      'malformed-json',
      'Malformed JSON',
      'The request body is not valid JSON. Send a JSON object with Content-Type: application/json.',
    );
  }
  return new ApiError(
    err.status as ContentfulStatusCode,
    'http',
    err.message || 'Error',
    err.message || 'The request could not be handled.',
  );
}
