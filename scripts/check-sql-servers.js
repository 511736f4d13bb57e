// Checks the PostgreSQL and MariaDB/MySQL servers the SQL tests use, starts a local one that is
// installed but stopped when it can, and records what it found in test-results/sql-servers.json
// (the SQL tests skip a server that is not reachable, and say why).
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const PG_URL = process.env.DBOPS_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const MYSQL_URL = process.env.DBOPS_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/mysql';

async function tryPg() {
  const { Client } = require('pg');
  const c = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    const r = await c.query('select version() as v');
    return { ok: true, version: r.rows[0].v };
  } catch (e) {
    return { ok: false, error: e.message };
  } finally {
    await c.end().catch(() => {});
  }
}

async function tryMysql() {
  const mysql = require('mysql2/promise');
  try {
    const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    const [rows] = await c.query('select version() as v');
    await c.end();
    return { ok: true, version: rows[0].v };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

function isLocal(url) {
  return /@(127\.0\.0\.1|localhost)(:|\/)/.test(url);
}

function tryStart(cmd) {
  try {
    execSync(cmd, { stdio: 'ignore', timeout: 30000 });
    return true;
  } catch {
    return false;
  }
}

async function main() {
  let pg = await tryPg();
  if (!pg.ok && isLocal(PG_URL) && fs.existsSync('/etc/postgresql')) {
    console.log('[test] PostgreSQL not reachable; trying to start the local cluster');
    if (tryStart('pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start')) pg = await tryPg();
  }
  let my = await tryMysql();
  if (!my.ok && isLocal(MYSQL_URL) && fs.existsSync('/usr/sbin/mariadbd')) {
    console.log('[test] MariaDB not reachable; trying to start the local server');
    if (tryStart('start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd && sleep 3')) my = await tryMysql();
  }
  const report = { postgres: { url: PG_URL.replace(/:[^:@/]*@/, ':***@'), ...pg }, mysql: { url: MYSQL_URL.replace(/:[^:@/]*@/, ':***@'), ...my } };
  fs.mkdirSync('test-results', { recursive: true });
  fs.writeFileSync(path.join('test-results', 'sql-servers.json'), JSON.stringify(report, null, 2));
  for (const [name, r, v] of [['PostgreSQL', report.postgres, 'DBOPS_TEST_PG_URL'], ['MariaDB/MySQL', report.mysql, 'DBOPS_TEST_MYSQL_URL']]) {
    if (r.ok) console.log(`[test] ${name} at ${r.url}: ${String(r.version).split(' ').slice(0, 2).join(' ')}`);
    else console.log(`[test] ${name} at ${r.url} is NOT reachable (${r.error}); its tests will be SKIPPED. Set ${v} to a server whose admin user can create databases and users.`);
  }
}
main();
