import { classifySqlError } from '../../src/activities/sql/errors';

test('a SQL failure quoting a live name carries no control characters (no terminal escapes)', () => {
  const err = Object.assign(new Error('database "ev\u001b]0;x\u0007" does not exist'), { code: '3D000' });
  const f = classifySqlError(err, {
    engine: 'postgres',
    host: '127.0.0.1',
    port: 5432,
    login: 'admin',
    action: 'revoke the privileges of acme_app in database ev\u001b]0;x\u0007',
    secrets: [],
  });
  expect(f.message).toContain('ev]0;x');
  // eslint-disable-next-line no-control-regex
  expect(f.message).not.toMatch(/[\u0000-\u001f\u007f]/);
});
