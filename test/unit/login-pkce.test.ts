import { describe, expect, test } from 'vitest';
import { challengeFor, createPkce, createState, createVerifier } from '../../src/login/pkce.js';
import { consentUrl, defaultKeyName } from '../../src/login/consent-url.js';

describe('PKCE S256', () => {
  test('matches the RFC 7636 appendix B example', () => {
    expect(challengeFor('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  test('verifiers are 43 unreserved characters and never repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const v = createVerifier();
      expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(v);
    }
    expect(seen.size).toBe(200);
  });

  test('state and the whole bundle', () => {
    expect(createState()).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const p = createPkce();
    expect(p.method).toBe('S256');
    expect(p.challenge).toBe(challengeFor(p.verifier));
    expect(p.state).not.toBe(createPkce().state);
  });
});

describe('consent URL', () => {
  test('loopback mode carries every parameter, encoded', () => {
    const url = new URL(
      consentUrl({
        baseUrl: 'https://tl.example.com/',
        state: 's1',
        codeChallenge: 'c1',
        keyName: 'CLI auth — box (2026-01-02)',
        expiresInDays: 90,
        redirectUri: 'http://127.0.0.1:5555/callback',
        replaces: 'tlk_old',
        machine: 'box',
      }),
    );
    expect(url.origin + url.pathname).toBe('https://tl.example.com/cli-auth');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      redirect_uri: 'http://127.0.0.1:5555/callback',
      state: 's1',
      code_challenge: 'c1',
      code_challenge_method: 'S256',
      key_name: 'CLI auth — box (2026-01-02)',
      expires_in_days: '90',
      replaces: 'tlk_old',
      machine: 'box',
    });
  });

  test('code mode has no redirect_uri and says mode=code', () => {
    const url = new URL(consentUrl({ baseUrl: 'http://h:1', state: 's', codeChallenge: 'c', keyName: 'k', expiresInDays: 30 }));
    expect(url.searchParams.get('mode')).toBe('code');
    expect(url.searchParams.has('redirect_uri')).toBe(false);
    expect(url.searchParams.has('replaces')).toBe(false);
  });

  test('default key name: host and date, within 64 characters even for long host names', () => {
    const now = new Date('2026-11-23T10:00:00Z');
    expect(defaultKeyName('devbox', now)).toBe('CLI auth — devbox (2026-11-23)');
    const long = defaultKeyName('x'.repeat(200), now);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^CLI auth — x+ \(2026-11-23\)$/);
    expect(defaultKeyName('', now)).toBe('CLI auth — this machine (2026-11-23)');
  });
});
