/**
 * Every example in the README runs as written: its YAML parses (and the rds-refresh config passes
 * the refresh schema), every `dbops` and `temporal` command line uses only subcommands and flags
 * the real programs have (read from their --help), every workflow type it starts is a dbops
 * workflow, every literal `--input` JSON passes that workflow's schema, and every `npm run` names a
 * script.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { INPUT_SCHEMAS } from '../../src/client/input-check';
import { readRefreshYaml } from '../../src/client/rds-refresh-yaml';
import { planRefresh } from '../../src/domain/dblab-config';
import * as workflows from '../../src/workflows';
import { ROOT } from '../helpers/stack';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const CLI = path.join(ROOT, 'dist', 'client', 'cli.js');
const TEMPORAL = path.join(ROOT, '.venv', 'bin', 'temporal');

interface Block {
  lang: string;
  body: string;
  line: number;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const m of README.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    out.push({ lang: m[1]!, body: m[2]!, line: README.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** Shell words of one command (quotes removed, `# comment` dropped); `$(…)` kept as one word. */
function words(cmd: string): string[] {
  const out: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      cur = (cur ?? '') + cmd.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (cmd[j] !== '"') {
        if (cmd[j] === '\\') j += 1;
        s += cmd[j];
        j += 1;
      }
      cur = (cur ?? '') + s;
      i = j;
    } else if (/\s/.test(c)) {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else if (c === '#' && cur === undefined) {
      break;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** The command lines of the sh blocks, continuation lines joined. */
function commands(): Array<{ words: string[]; text: string; line: number }> {
  const out: Array<{ words: string[]; text: string; line: number }> = [];
  for (const b of blocks().filter((x) => x.lang === 'sh')) {
    const lines = b.body.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const start = i;
      let text = lines[i]!;
      if (text.trim().startsWith('#')) continue;
      while (text.trimEnd().endsWith('\\') && i + 1 < lines.length) text = text.trimEnd().slice(0, -1) + lines[++i];
      // A quoted argument may continue on the next line (the multi-line JSON inputs).
      while ((text.split("'").length - 1) % 2 === 1 && i + 1 < lines.length) text += `\n${lines[++i]}`;
      // A sandbox line: the command after the script it runs through (`.dbops/sandbox/env`).
      const all = words(text);
      const w = all[0] === '.dbops/sandbox/env' ? all.slice(1) : all;
      if (w[0] === '.venv/bin/temporal') w[0] = 'temporal';
      if (w.length) out.push({ words: w, text: text.trim(), line: b.line + 1 + start });
    }
  }
  return out;
}

/** Subcommands and options of a program's (sub)command, from its --help. */
const helpCache = new Map<string, { commands: Set<string>; options: Set<string> }>();
function help(program: string, sub: string[]): { commands: Set<string>; options: Set<string> } {
  const key = [program, ...sub].join(' ');
  const cached = helpCache.get(key);
  if (cached) return cached;
  const text = execFileSync(program === 'dbops' ? process.execPath : TEMPORAL, [
    ...(program === 'dbops' ? [CLI] : []),
    ...sub,
    '--help',
  ]).toString();
  const options = new Set<string>();
  const cmds = new Set<string>();
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S.*:\s*$/.test(line)) section = line.trim().toLowerCase();
    if (section.includes('flags') || section.includes('options')) {
      for (const m of line.matchAll(/(?:^|[\s,"])(--?[a-zA-Z][\w-]*)/g)) options.add(m[1]!); // "--x": an alias
    } else if (section.includes('commands')) {
      const m = /^ {2}([a-z][\w-]*)/.exec(line);
      if (m) cmds.add(m[1]!);
    }
  }
  const r = { commands: cmds, options };
  helpCache.set(key, r);
  return r;
}

/** Splits `prog sub sub --flags …` into the subcommand path and the flags used. */
function parseCommand(
  program: string,
  args: string[],
): { sub: string[]; flags: string[]; values: Map<string, string> } {
  const sub: string[] = [];
  while (args.length && help(program, sub).commands.has(args[0]!)) sub.push(args.shift()!);
  const flags: string[] = [];
  const values = new Map<string, string>();
  args.forEach((a, i) => {
    const w = a.replace(/^\[/, '').replace(/\]$/, '');
    if (!/^--?[a-zA-Z]/.test(w)) return;
    const flag = w.split('=')[0]!;
    flags.push(flag);
    if (args[i + 1] !== undefined) values.set(flag, args[i + 1]!);
  });
  return { sub, flags, values };
}

const cmds = commands();

test('the README has examples to check (the extraction works)', () => {
  expect(cmds.filter((c) => c.words[0] === 'npx' && c.words[1] === 'dbops').length).toBeGreaterThan(10);
  expect(cmds.filter((c) => c.words[0] === 'temporal').length).toBeGreaterThan(5);
  expect(blocks().filter((b) => b.lang === 'yaml').length).toBeGreaterThan(0);
});

test('every YAML example parses; the rds-refresh config passes the refresh schema as dbops reads it', () => {
  for (const b of blocks().filter((x) => x.lang === 'yaml')) {
    const doc = parseYaml(b.body) as Record<string, unknown>;
    if (doc && 'source' in doc && 'dblab' in doc) {
      expect(() => planRefresh(readRefreshYaml(b.body, {}))).not.toThrow();
    }
  }
});

test.each(cmds.filter((c) => c.words[0] === 'npx' && c.words[1] === 'dbops').map((c) => [c.line, c.text, c]))(
  'README line %i: %s — its dbops subcommand and flags exist',
  (_line, _text, c) => {
    const { sub, flags } = parseCommand('dbops', c.words.slice(2));
    expect(sub.length).toBeGreaterThan(0);
    const known = help('dbops', sub).options;
    expect(flags.filter((f) => !known.has(f))).toEqual([]);
  },
);

test.each(cmds.filter((c) => c.words[0] === 'temporal').map((c) => [c.line, c.text, c]))(
  'README line %i: %s — its temporal subcommand and flags exist; the workflow type and input are dbops’s',
  (_line, _text, c) => {
    const { sub, flags, values } = parseCommand('temporal', c.words.slice(1));
    expect(sub.length).toBeGreaterThan(1);
    const known = new Set([...help('temporal', sub).options, ...help('temporal', []).options]);
    expect(flags.filter((f) => !known.has(f))).toEqual([]);
    const type = values.get('--type');
    if (!type || sub.join(' ') === 'workflow query') return;
    expect(Object.keys(workflows)).toContain(type);
    const schema = INPUT_SCHEMAS[type as keyof typeof INPUT_SCHEMAS];
    expect(schema).toBeDefined();
    const input = values.get('--input');
    if (input && !input.startsWith('$(')) expect(() => schema!(JSON.parse(input))).not.toThrow();
  },
);

test('every npm run in the README names a script', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts;
  for (const c of cmds.filter((x) => x.words[0] === 'npm' && x.words[1] === 'run'))
    expect(Object.keys(scripts)).toContain(c.words[2]);
});

test('the README says where the temporal CLI is before its first temporal command', () => {
  const first = README.search(/^temporal /m);
  expect(README.slice(0, first)).toContain('.venv/bin');
});
