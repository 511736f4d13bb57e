import { scrubSecrets, secretSpellings } from '../../src/activities/scrub';
import { httpService } from '../../src/activities/http';

const SECRET = 'p@ss w/rd"+\\x';

describe('scrubSecrets: a secret is hidden in every spelling a message may carry', () => {
  it.each([
    ['as itself', SECRET],
    ['percent-encoded (a URL)', encodeURIComponent(SECRET)],
    ['form-encoded (+ for space)', encodeURIComponent(SECRET).replace(/%20/g, '+')],
    ['JSON-escaped (a driver quoting it)', JSON.stringify(SECRET).slice(1, -1)],
    ['base64 (an auth header)', Buffer.from(SECRET).toString('base64')],
    ['base64url without padding', Buffer.from(SECRET).toString('base64url')],
  ])('%s', (_how, spelled) => {
    const out = scrubSecrets(`login failed for "${spelled}" at host`, [SECRET]);
    expect(out).toBe('login failed for "***" at host');
  });

  it('leaves short secrets and ordinary text alone', () => {
    expect(scrubSecrets('abc and more', ['abc', undefined, ''])).toBe('abc and more');
    expect(secretSpellings('abc')).toEqual([]);
  });

  it('scrubs several secrets, longest spelling first', () => {
    expect(scrubSecrets('token=tok3n%2Fx pass=hunter22', ['tok3n/x', 'hunter22'])).toBe('token=*** pass=***');
  });
});

describe('httpService: an error reply that echoes a token percent-encoded', () => {
  it('is scrubbed in the failure message', async () => {
    const token = 'dblab/token+value';
    const svc = httpService({
      label: 'DBLab',
      unavailableType: 'DblabUnavailable',
      timeoutMs: 1000,
      secrets: () => [token],
      fetch: async () =>
        new Response(JSON.stringify({ message: `bad token ${encodeURIComponent(token)}` }), { status: 401 }),
    });
    const res = await svc.send('http://127.0.0.1:1/status', {}, 'GET /status');
    const text = await svc.errorText(res);
    expect(text).toBe('bad token ***');
  });
});
