import type { Command } from 'commander';

/** Lets an action set the process exit code (e.g. a followed run that failed). */
export function setExitCode(cmd: Command, code: number): void {
  (cmd as Command & { exitCode?: number }).exitCode = code;
}

export function exitCodeOf(cmd: Command): number | undefined {
  return (cmd as Command & { exitCode?: number }).exitCode;
}
