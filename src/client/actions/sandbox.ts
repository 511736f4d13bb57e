/** What `dbops sandbox`, `sandbox demo` and `sandbox stop` do (loaded only when one of them runs). */
import type { Command } from 'commander';
import { loadSettings } from '../../config';
import {
  DROPPED_ENV,
  DROPPED_PREFIXES,
  describeSandbox,
  leftTenants,
  UNDO_NOTE,
  runUrl,
  sandboxClientEnv,
  sandboxJobs,
  type Job,
} from '../../sandbox/commands';
import { ensureSandbox, stopSandbox } from '../../sandbox/control';
import { alive, readState, sandboxDir, stopProcess, type SandboxState } from '../../sandbox/state';
import type { CliContext } from '../context';
import { setExitCode } from '../exit';
import type { SandboxFlags } from '../commands/sandbox';

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag} must be a port number (1-65535)`);
  return n;
}

function open(
  ctx: CliContext,
  f: SandboxFlags,
  spawned?: (pid: number) => void,
): Promise<SandboxState & { reused: boolean }> {
  return ensureSandbox({
    spawned,
    dataDir: loadSettings(ctx.env).dataDir,
    port: port(f.port, '--port'),
    uiPort: port(f.uiPort, '--ui-port'),
    env: ctx.env,
    say: (line) => ctx.io.err.write(`${line}\n`),
  });
}

/**
 * The environment the demo's dbops commands run with: the sandbox's dev server, task queue,
 * Temporal config file and moto, and none of the shell's Temporal or AWS settings or codec keys (the
 * sandbox's worker has none); what the printed lines get from <sandbox dir>/env.
 */
function clientEnv(ctx: CliContext, s: SandboxState): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(ctx.env)) {
    if (!DROPPED_PREFIXES.some((p) => k.startsWith(p)) && !DROPPED_ENV.includes(k)) env[k] = v;
  }
  return { ...env, ...sandboxClientEnv(s) };
}

export async function start(ctx: CliContext, f: SandboxFlags, cmd: Command): Promise<void> {
  // In the foreground, Ctrl-C while the sandbox starts stops it too.
  const say = (line: string) => ctx.io.err.write(`${line}\n`);
  let host: number | undefined;
  const early = () =>
    void (async () => {
      say('\nstopping the sandbox while it starts');
      if (host) await stopProcess(host, 60_000); // it stops what it has started so far
      await stopSandbox(loadSettings(ctx.env).dataDir, say);
    })().finally(() => process.exit(130));
  if (!f.detach) process.once('SIGINT', early);
  const s = await open(ctx, f, (pid) => (host = pid)).finally(() => process.removeListener('SIGINT', early));
  ctx.io.out.write(describeSandbox(s));
  if (f.detach) return;
  ctx.io.err.write('\nthe sandbox runs until Ctrl-C (or "dbops sandbox stop")\n');
  // The timer keeps this process up (signal handlers alone do not) and notices a sandbox that stopped.
  const interrupted = await new Promise<boolean>((resolve) => {
    const timer = setInterval(() => {
      if (!alive(s.hostPid)) done(false);
    }, 1000);
    const done = (byUser: boolean) => {
      clearInterval(timer);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      resolve(byUser);
    };
    const onSignal = () => done(true);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  if (!interrupted) ctx.io.err.write(`the sandbox stopped (log: ${s.logFiles.sandbox})\n`);
  else ctx.io.err.write('\n');
  await stopSandbox(loadSettings(ctx.env).dataDir, (line) => ctx.io.err.write(`${line}\n`));
  ctx.io.err.write('sandbox stopped\n');
  setExitCode(cmd, interrupted ? 0 : 1);
}

interface Outcome {
  job: Job;
  status: string;
  url?: string;
  result?: unknown;
}

export async function demo(ctx: CliContext, f: SandboxFlags, cmd: Command): Promise<void> {
  const s = await open(ctx, f);
  const env = clientEnv(ctx, s);
  const { runCli } = await import('../cli');
  const { connectClient } = await import('../connect');
  const connected = await connectClient(env);
  const outcomes: Outcome[] = [];
  try {
    for (const job of sandboxJobs(s)) {
      ctx.io.out.write(`\n== ${job.title}\n$ ${job.lines[0]}\n`);
      await runCli(job.dbops, ctx.io, env);
      const handle = connected.client.workflow.getHandle(job.workflowId);
      const d = await handle.describe();
      const o: Outcome = { job, status: d.status.name, url: runUrl(s, job.workflowId, d.runId) };
      if (d.status.name === 'COMPLETED') o.result = await handle.result();
      outcomes.push(o);
      if (o.result !== undefined) ctx.io.out.write(`result: ${JSON.stringify(o.result)}\n`);
      ctx.io.out.write(`Web UI: ${o.url}\n`);
    }
  } finally {
    await connected.close();
  }
  ctx.io.out.write('\n');
  for (const o of outcomes)
    ctx.io.out.write(`${o.status === 'COMPLETED' ? '✔' : '✘'} ${o.job.name}: ${o.status.toLowerCase()}  ${o.url}\n`);
  if (!s.sql.postgres) {
    for (const why of s.sql.unavailable.filter((w) => w.includes('PostgreSQL'))) ctx.io.out.write(`✘ ${why}\n`);
  }
  const all = outcomes.length === 3 && outcomes.every((o) => o.status === 'COMPLETED');
  ctx.io.out.write(
    all
      ? `all three jobs completed; the runs stay in the Web UI (${s.temporal!.uiUrl}) until "npx dbops sandbox stop"\n`
      : 'not every job completed (see above)\n',
  );
  printLeftTenants(ctx, leftTenants(s));
  setExitCode(cmd, all ? 0 : 1);
}

export async function stop(ctx: CliContext): Promise<void> {
  const dataDir = loadSettings(ctx.env).dataDir;
  const s = readState(sandboxDir(dataDir));
  let left: string[] = [];
  try {
    if (s?.ready) left = leftTenants(s);
  } catch {
    // a damaged sandbox dir (its refresh.json gone): stop it all the same, without the list
  }
  const stopped = await stopSandbox(dataDir, (line) => ctx.io.err.write(`${line}\n`));
  ctx.io.out.write(stopped ? 'sandbox stopped\n' : 'no sandbox is running\n');
  printLeftTenants(ctx, left);
}

/** The lines that remove the tenants the sandbox left on this machine's servers, with what they need. */
function printLeftTenants(ctx: CliContext, lines: string[]): void {
  if (lines.length) ctx.io.out.write(`\n# ${UNDO_NOTE}:\n${lines.join('\n')}\n`);
}
