/**
 * The stage table in the Temporal Web UI, as a person sees it: a real provisionDatabase run on the
 * machine's PostgreSQL, through a worker on a dev server of its own that serves the Web UI
 * (`temporal server start-dev --ui-port`), opened in a real headless browser (Debian's chromium
 * driven by playwright-core) on the run's *User Metadata* tab. The test reads the rendered page and
 * saves a screenshot (test-results/web-ui-stages.png; with DBOPS_UPDATE_DOCS=1 also
 * docs/web-ui-stages.png, the one the README shows).
 *
 * Skipped (reported as skipped, not passed) when there is no browser: set DBOPS_CHROMIUM to one,
 * or let scripts/setup.sh install Debian's chromium. Skipped too without the test PostgreSQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { chromium, type Browser } from 'playwright-core';
import { createActivities } from '../../src/activities';
import { deriveNames } from '../../src/domain/sql-names';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { createDbopsWorker } from '../../src/worker';
import { workerConfig } from '../../src/worker-config';
import { motoAws } from '../helpers/activities';
import { adminUrl, sqlAdmin, sqlAvailable } from '../helpers/sql';
import { ROOT, STATE_DIR, VENV_BIN } from '../helpers/stack';
import { uniqueName } from '../helpers/temporal';

const CHROMIUM = process.env.DBOPS_CHROMIUM || '/usr/bin/chromium';
const haveBrowser = fs.existsSync(CHROMIUM);
const havePostgres = sqlAvailable('postgres');
if (!haveBrowser)
  console.warn(`web-ui test skipped: no browser at ${CHROMIUM} (set DBOPS_CHROMIUM, or run scripts/setup.sh)`);
const run = haveBrowser && havePostgres ? test : test.skip;

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed in this jest worker
}

let server: DevServer | undefined;
let browser: Browser | undefined;
let dir: string;
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

run(
  "the run's User Metadata tab shows the stage table: every stage with its mark, status and duration, columns aligned",
  async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbops-web-ui-'));
    server = await startDevServer({
      cli: path.join(VENV_BIN, 'temporal'),
      port: await freePort(),
      uiPort: await freePort(),
      logFile: path.join(STATE_DIR, 'web-ui-temporal.log'),
    });
    const connection = await Connection.connect({ address: server.address });
    await ensureSearchAttributes(connection, 'default');
    const client = new Client({ connection, namespace: 'default' });

    const a = adminUrl('postgres');
    const env = { DBOPS_TEST_ADMIN_PW: a.password };
    const config = workerConfig(
      {
        allowLoopbackDatabases: true,
        credentials: { directories: [dir] },
        databaseServers: a.password
          ? {
              main: {
                engine: 'postgres',
                host: a.host,
                port: a.port,
                adminUser: a.user,
                adminPassword: 'env:DBOPS_TEST_ADMIN_PW',
              },
            }
          : {},
      },
      'test',
    );
    const taskQueue = uniqueName('tq');
    const worker = await createDbopsWorker({
      connection: await NativeConnection.connect({ address: server.address }),
      namespace: 'default',
      taskQueue,
      activities: createActivities({ env, aws: motoAws(), config }),
      env,
      workflowBundle: { codePath: process.env.DBOPS_TEST_WORKFLOW_BUNDLE! },
      shutdownGraceTime: '1s',
    });

    const tenant = uniqueName('acme').replace(/-/g, '_');
    const names = deriveNames(tenant, 'postgres');
    const admin = await sqlAdmin('postgres');
    const serverSpec = {
      host: a.host,
      port: a.port,
      adminUser: a.user,
      ...(a.password ? { adminPasswordRef: 'env:DBOPS_TEST_ADMIN_PW' } : {}),
    };
    const input = {
      engine: 'postgres',
      server: serverSpec,
      tenant,
      credentialsTarget: { kind: 'file', path: path.join(dir, `${tenant}.json`) },
    };
    try {
      // The worker keeps running while the page is open: the UI asks it for the details by query.
      await worker.runUntil(async () => {
        const id = `provision-db:postgres:${a.host}:${names.database}`;
        const h = await client.workflow.start('provisionDatabase', { workflowId: id, taskQueue, args: [input] });
        await h.result();

        browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
        const page = await browser.newPage({ viewport: { width: 2100, height: 660 } });
        await page.goto(
          `${server!.uiUrl}/namespaces/default/workflows/${encodeURIComponent(id)}/${h.firstExecutionRunId}/user-metadata`,
          { waitUntil: 'load' },
        );
        // The UI renders the markdown in an iframe of its own: wait there for the last stage's line.
        const details = page.frameLocator('iframe[title=output]');
        const table = details.locator('pre', { hasText: 'store-credentials' });
        await table
          .first()
          .waitFor({ timeout: 60_000 })
          .catch(async (e: unknown) => {
            await page.screenshot({ path: path.join(STATE_DIR, 'web-ui-failed.png') }); // what the page showed instead
            throw e;
          });
        expect(await details.getByText('provisionDatabase').first().isVisible()).toBe(true);
        const [head, ...lines] = (await table.first().innerText()).trimEnd().split('\n');
        expect(head).toMatch(/^stage +status +took +detail$/);
        // Aligned: every line has its status where the header has "status", and its duration ending where "took" ends.
        const statusAt = head.indexOf('status');
        const tookEnd = head.indexOf('took') + 'took'.length;
        expect(lines.map((l) => l.slice(0, statusAt).trim())).toEqual([
          '✔ validate',
          '✔ connect',
          '✔ ensure-database',
          '✔ ensure-user',
          '✔ grant',
          '✔ verify',
          '✔ store-credentials',
        ]);
        for (const l of lines) {
          expect(l.slice(statusAt).split(/\s+/)[0]).toBe('done');
          expect(l.slice(statusAt, tookEnd).trim().split(/\s+/)[1]).toMatch(/^\d+ms$|^\d+\.\ds$|^\d+m\d\ds$/);
          expect(l[tookEnd]).toBe(' ');
        }
        expect(lines.find((l) => l.includes('store-credentials'))).toContain(`${tenant}.json`);

        fs.mkdirSync(STATE_DIR, { recursive: true });
        const shot = path.join(STATE_DIR, 'web-ui-stages.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
        if (process.env.DBOPS_UPDATE_DOCS === '1') {
          fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
          fs.copyFileSync(shot, path.join(ROOT, 'docs', 'web-ui-stages.png'));
        }
      });
    } finally {
      // What the run made: its database, its user (the credentials file goes with dir).
      await admin.cleanup(names.database, names.user).catch(() => undefined);
      await admin.close();
      await connection.close();
    }
  },
  180_000,
);
