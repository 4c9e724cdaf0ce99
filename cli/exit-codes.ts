/** What `codex32` exits with, so that a pipeline can tell outcomes apart. */
export const EXIT = {
  ok: 0,
  /** The deployment rolled back or failed. */
  failed: 1,
  /** The platform refused the request (validation, a deployment already running, nothing to roll back to). */
  refused: 2,
  /** --timeout passed before the deployment ended. */
  timedOut: 3,
  /** No or bad credentials, or not permitted. */
  auth: 4,
} as const;

/** An outcome to exit with, after its message is printed. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
