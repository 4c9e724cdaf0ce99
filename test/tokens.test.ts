import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenError, TokenService } from '../api/auth/tokens.js';
import { hashPassword, passwordProblem, verifyPassword } from '../api/auth/passwords.js';
import { ROLE_PERMISSIONS, ROLES, PERMISSIONS } from '../lib/permissions.js';

const secret = 'k'.repeat(48);
const service = new TokenService({ secret, algorithm: 'HS256', accessTtlSeconds: 1800, refreshTtlSeconds: 86400 });

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function forge(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key = secret,
  hmac = 'sha256',
): string {
  const head = `${b64(header)}.${b64(payload)}`;
  const sig = header.alg === 'none' ? '' : createHmac(hmac, key).update(head).digest('base64url');
  return `${head}.${sig}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  iss: TOKEN_ISSUER,
  aud: TOKEN_AUDIENCE,
  sub: 'alice',
  jti: 'j1',
  iat: now(),
  nbf: now(),
  exp: now() + 600,
  token_type: 'access',
  ver: 0,
  ...over,
});

describe('tokens', () => {
  it('round-trips access and refresh tokens', async () => {
    const { token } = await service.issue('access', 'alice', 3);
    expect(await service.verify(token, 'access')).toMatchObject({ sub: 'alice', tokenType: 'access', version: 3 });
    const refresh = await service.issue('refresh', 'alice', 3, { family: 'fam-1' });
    expect(await service.verify(refresh.token, 'refresh')).toMatchObject({ sub: 'alice', family: 'fam-1' });
    // A forged token with the right key and claims is, correctly, accepted: the forge helper is sound.
    expect(await service.verify(forge({ alg: 'HS256', typ: 'JWT' }, claims()), 'access')).toMatchObject({
      sub: 'alice',
    });
  });

  it.each([
    ['alg none', () => forge({ alg: 'none', typ: 'JWT' }, claims()), /algorithm|malformed|not valid/],
    ['another algorithm (HS512)', () => forge({ alg: 'HS512', typ: 'JWT' }, claims(), secret, 'sha512'), /algorithm/],
    ['another key', () => forge({ alg: 'HS256' }, claims(), 'x'.repeat(48)), /signature/],
    [
      'expired',
      () => forge({ alg: 'HS256' }, claims({ iat: now() - 1000, nbf: now() - 1000, exp: now() - 100 })),
      /expired/,
    ],
    ['not yet valid', () => forge({ alg: 'HS256' }, claims({ nbf: now() + 600 })), /nbf/],
    ['wrong issuer', () => forge({ alg: 'HS256' }, claims({ iss: 'someone-else' })), /iss/],
    ['wrong audience', () => forge({ alg: 'HS256' }, claims({ aud: 'other-api' })), /aud/],
    [
      'refresh token as access token',
      () => forge({ alg: 'HS256' }, claims({ token_type: 'refresh', fid: 'f' })),
      /refresh token cannot be used as an access/,
    ],
    ['no token type', () => forge({ alg: 'HS256' }, claims({ token_type: undefined })), /typeless/],
    ['garbage', () => 'not.a.token', /malformed|not valid/],
  ])('rejects %s', async (_name, make, message) => {
    await expect(service.verify(make(), 'access')).rejects.toThrow(TokenError);
    await expect(service.verify(make(), 'access')).rejects.toThrow(message);
  });

  it('rejects a tampered payload', async () => {
    const { token } = await service.issue('access', 'alice', 0);
    const [h, , s] = token.split('.');
    const tampered = `${h}.${b64(claims({ sub: 'admin' }))}.${s}`;
    await expect(service.verify(tampered, 'access')).rejects.toThrow(/signature/);
  });

  it('rejects an access token used as a refresh token', async () => {
    const { token } = await service.issue('access', 'alice', 0);
    await expect(service.verify(token, 'refresh')).rejects.toThrow(
      /access token cannot be used as an refresh|cannot be used/,
    );
  });

  it('refuses a short secret with what to do', () => {
    expect(
      () => new TokenService({ secret: 'short', algorithm: 'HS256', accessTtlSeconds: 1, refreshTtlSeconds: 1 }),
    ).toThrow(/openssl rand/);
  });
});

describe('passwords', () => {
  it('hashes with argon2id and verifies', async () => {
    const h = await hashPassword('Correct horse 42!');
    expect(h.startsWith('$argon2id$')).toBe(true);
    expect(await verifyPassword(h, 'Correct horse 42!')).toBe(true);
    expect(await verifyPassword(h, 'correct horse 42!')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });

  it('explains what a weak password lacks', () => {
    expect(passwordProblem('short1A!')).toMatch(/at least 12/);
    expect(passwordProblem('alllowercaseletters')).toMatch(/three of/);
    expect(passwordProblem('Aa1Aa1Aa1Aa1Aa1')).toMatch(/distinct/);
    expect(passwordProblem('Operator-alice-99', 'alice')).toMatch(/user name/);
    expect(passwordProblem('Correct horse 42!', 'alice')).toBeNull();
  });
});

describe('permission table', () => {
  it('gives admin everything and narrows down the roles', () => {
    expect(new Set(ROLE_PERMISSIONS.admin)).toEqual(new Set(Object.keys(PERMISSIONS)));
    for (const role of ROLES) for (const p of ROLE_PERMISSIONS[role]) expect(PERMISSIONS).toHaveProperty(p);
    expect(ROLE_PERMISSIONS.user).not.toContain('bots:operate');
    expect(ROLE_PERMISSIONS.viewer).not.toContain('bots:secrets');
    expect(ROLE_PERMISSIONS.viewer).not.toContain('bots:operate');
    expect(ROLE_PERMISSIONS.operator).toContain('bots:operate');
    expect(ROLE_PERMISSIONS.operator).not.toContain('users:manage');
  });
});
