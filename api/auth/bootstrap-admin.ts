import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from '../../lib/logger.js';
import type { Database } from '../../registry/database.js';
import { countUsers, insertUser } from '../../registry/users.js';
import { hashPassword, passwordProblem } from './passwords.js';

/**
 * The first administrator, when there are no users yet: from ADMIN_USERNAME and
 * ADMIN_PASSWORD, or `admin` with a generated password printed once here and
 * stored only as a hash.
 */
export async function bootstrapAdmin(
  db: Kysely<Database>,
  opts: {
    username?: string | undefined;
    password?: string | undefined;
    logger: Logger;
    print?: (line: string) => void;
  },
): Promise<{ created: boolean; username?: string }> {
  if ((await countUsers(db)) > 0) return { created: false };
  const username = opts.username ?? 'admin';
  let password = opts.password;
  if (password) {
    const problem = passwordProblem(password, username);
    if (problem) throw new Error(`ADMIN_PASSWORD is too weak: ${problem}. Choose a stronger one and start again.`);
  } else {
    password = randomBytes(18).toString('base64url');
  }
  try {
    await insertUser(db, { username, password_hash: await hashPassword(password), role: 'admin' });
  } catch (err) {
    // Another API replica created the first user at the same moment.
    if ((err as { code?: string }).code === '23505') return { created: false };
    throw err;
  }
  if (!opts.password) {
    (opts.print ?? ((line) => process.stderr.write(line + '\n')))(
      `\nCreated the first administrator "${username}" with password: ${password}\nIt is shown only this once and stored only as a hash. Log in with POST /api/v1/auth/login and change it.\n`,
    );
  }
  opts.logger.info({ username }, 'created the first administrator');
  return { created: true, username };
}
