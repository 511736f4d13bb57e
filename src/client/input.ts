/** Reads a workflow input given on the command line: inline JSON or @path/to/file.json. */
import fs from 'node:fs';

export function readJsonInput(arg: string): unknown {
  const text = arg.startsWith('@') ? fs.readFileSync(arg.slice(1), 'utf8') : arg;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`--input is not valid JSON: ${(err as Error).message}`);
  }
}
