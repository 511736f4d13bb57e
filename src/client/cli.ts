#!/usr/bin/env node
/** The `dbops` command: a thin client that starts, watches, lists, cancels and schedules runs. */
import './compile-cache'; // first: the code cache for what the command loads next
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import type { Io } from './follow';
import { makeContext } from './context';
import { registerRunCommands } from './commands/runs';
import { registerScheduleCommands } from './commands/schedule';
import { registerDbCommands } from './commands/db';
import { registerCodecCommands } from './commands/codec';
import { registerPeeringCommands } from './commands/peering';
import { registerRefreshCommands } from './commands/refresh';
import { registerSandboxCommands } from './commands/sandbox';
import { exitCodeOf } from './exit';

/** dbops's version, from its package.json (dist/client/cli.js → the project root). */
function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function buildProgram(ctx: ReturnType<typeof makeContext>): Command {
  const program = new Command('dbops')
    .description('Durable cloud-database operations on Temporal')
    .version(version(), '-V, --version', 'print the dbops version')
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({
      writeOut: (s) => ctx.io.out.write(s),
      writeErr: (s) => ctx.io.err.write(s),
    });
  registerRunCommands(program, ctx);
  registerScheduleCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerCodecCommands(program, ctx);
  registerPeeringCommands(program, ctx);
  registerRefreshCommands(program, ctx);
  registerSandboxCommands(program, ctx);
  return program;
}

/** Runs the CLI with the given arguments (without "node dbops"); resolves to the exit code. */
export async function runCli(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const ctx = makeContext(io, env);
  const program = buildProgram(ctx);
  let code = 0;
  program.hook('postAction', (_this, action) => {
    const c = exitCodeOf(action);
    if (typeof c === 'number') code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      code = err.exitCode;
    } else {
      io.err.write(`dbops: ${(err as Error).message}\n`);
      code = 1;
    }
  } finally {
    await ctx.close();
  }
  return code;
}

if (require.main === module) {
  runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr }).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`dbops: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
