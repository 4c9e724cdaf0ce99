import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/logger.js';
import { findExecutable } from './find-executable.js';

/** The system user that setup (`npm run setup` as root) creates for bots. */
export const DEFAULT_BOT_USER = 'codex32-bot';

/** Who local bots run as. */
export interface BotUser {
  name: string;
  uid: number;
  gid: number;
  /** Its home directory (HOME in the bot's environment); null when it has none. */
  home: string | null;
  /** True when bots run as the platform's own user (the platform is not root): nothing keeps them from its files. */
  sharedWithPlatform: boolean;
  /** setpriv (util-linux): drops to this user with no new privileges, no capabilities and no supplementary groups. */
  setpriv: string;
}

export class BotUserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BotUserError';
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One passwd entry through the system's name service (files, LDAP, ...), or null. */
function getent(key: string): PasswdEntry | null {
  try {
    const line =
      execFileSync('getent', ['passwd', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
        '\n',
      )[0] ?? '';
    const [name, , uid, gid, , home] = line.split(':');
    if (!name || uid === undefined || gid === undefined) return null;
    return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  } catch {
    return null;
  }
}

const CREATE_HINT = `run \`npm run setup\` as root (it creates ${DEFAULT_BOT_USER}), or create a user yourself (useradd --system --user-group --create-home --home-dir /var/lib/${DEFAULT_BOT_USER} --shell /usr/sbin/nologin ${DEFAULT_BOT_USER}) and set BOT_USER to it`;

/**
 * Resolves BOT_USER once, at start: a name, or uid[:gid]. Unset, bots run
 * as codex32-bot when the platform is root, and as the platform's own user
 * otherwise (said in a warning: then bots can read whatever the platform
 * can). Never root, never the root group; a platform that is not root
 * cannot switch to another user, and says so instead of failing at the
 * first launch.
 */
export function resolveBotUser(
  botUser: string | undefined,
  opts: { logger: Logger; searchPath: string | undefined },
): BotUser {
  const platformUid = process.getuid?.() ?? -1;
  const setpriv = findExecutable('setpriv', opts.searchPath);
  if (!setpriv)
    throw new BotUserError(
      'setpriv is not installed; it runs every bot with no new privileges (and as BOT_USER). Install util-linux (apt-get install util-linux) and start again.',
    );

  if (botUser === undefined && platformUid !== 0) {
    const me = os.userInfo();
    opts.logger.warn(
      { botUser: me.username, uid: me.uid },
      `the platform does not run as root, so bots run as its own user (${me.username}): they can read its data directory, logs and files. Run the worker as root to have bots run as ${DEFAULT_BOT_USER}, or accept this on a single-user machine`,
    );
    return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir || null, sharedWithPlatform: true, setpriv };
  }

  const wanted = botUser ?? DEFAULT_BOT_USER;
  const numeric = /^(\d+)(?::(\d+))?$/.exec(wanted);
  let user: BotUser;
  if (numeric) {
    const uid = Number(numeric[1]);
    const entry = getent(String(uid));
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : (entry?.gid ?? uid);
    user = {
      name: entry?.name ?? String(uid),
      uid,
      gid,
      home: entry?.home ?? null,
      sharedWithPlatform: uid === platformUid,
      setpriv,
    };
  } else {
    const entry = getent(wanted);
    if (!entry)
      throw new BotUserError(
        `BOT_USER=${wanted}: there is no such user. To run bots apart from the platform, ${CREATE_HINT}.`,
      );
    user = {
      name: entry.name,
      uid: entry.uid,
      gid: entry.gid,
      home: entry.home,
      sharedWithPlatform: entry.uid === platformUid,
      setpriv,
    };
  }
  if (user.uid === 0) throw new BotUserError(`BOT_USER=${wanted} is root: bots never run as root. ${CREATE_HINT}.`);
  if (user.gid === 0)
    throw new BotUserError(
      `BOT_USER=${wanted} has group root (gid 0), which reads what that group may: give it a group of its own.`,
    );
  if (platformUid !== 0 && user.uid !== platformUid) {
    throw new BotUserError(
      `BOT_USER=${wanted}: only a platform running as root can run bots as another user; run the worker as root, or unset BOT_USER to run bots as the platform's own user.`,
    );
  }
  if (user.home !== null && !isDirectory(user.home)) user = { ...user, home: null };
  return user;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The command that runs `command args` as the bot user: setpriv sets the
 * user, group and an empty group list, no_new_privs (no setuid binary or
 * file capability raises it later), and clears every capability set, then
 * execs the command in the same process, so the pid is the bot's.
 */
export function commandAsBotUser(user: BotUser, command: string, args: string[]): { command: string; args: string[] } {
  const drop = user.sharedWithPlatform
    ? ['--no-new-privs']
    : [
        '--reuid',
        String(user.uid),
        '--regid',
        String(user.gid),
        '--clear-groups',
        '--no-new-privs',
        '--inh-caps=-all',
        '--bounding-set=-all',
      ];
  return { command: user.setpriv, args: [...drop, '--', command, ...args] };
}

/**
 * What the bot's environment says of who it is (HOME, USER, LOGNAME), over
 * the platform's own, and its PATH without the directories the bot user
 * cannot search (such as a version manager's shims under /root): a program
 * found there would start and then fail to read itself.
 */
export function botUserEnv(user: BotUser, basePath: string | undefined): Record<string, string> {
  if (user.sharedWithPlatform) return {};
  const reachable = (basePath ?? '')
    .split(':')
    .filter((dir) => dir && path.isAbsolute(dir) && accessProblem(user, dir, false, true) === null);
  return { HOME: user.home ?? '/', USER: user.name, LOGNAME: user.name, PATH: reachable.join(':') || '/usr/bin:/bin' };
}

/**
 * Why the bot user cannot read `file` (or run it, with `execute`), or null:
 * read from the mode bits of the file and of every directory above it, as
 * the kernel checks them for a user without supplementary groups.
 */
export function accessProblem(user: BotUser, file: string, execute: boolean, isDirectory = false): string | null {
  if (user.sharedWithPlatform) return null;
  const may = (p: string, want: number): boolean => {
    const st = statSync(p);
    const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : st.gid === user.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    return (bits & want) === want;
  };
  try {
    const dirs: string[] = [];
    for (let dir = isDirectory ? file : path.dirname(file); ; dir = path.dirname(dir)) {
      dirs.unshift(dir);
      if (dir === path.dirname(dir)) break;
    }
    for (const dir of dirs) {
      if (!may(dir, 1))
        return `${user.name} (uid ${user.uid}) cannot enter ${dir}: give others search access (chmod o+x ${dir}) or keep BOTS_DIR somewhere ${user.name} can reach`;
    }
    if (!isDirectory && !may(file, execute ? 5 : 4)) {
      return `${user.name} (uid ${user.uid}) cannot ${execute ? 'read and run' : 'read'} ${file}: chmod o+r${execute ? 'x' : ''} ${file}`;
    }
  } catch (err) {
    return `cannot check ${file}: ${(err as Error).message}`;
  }
  return null;
}
