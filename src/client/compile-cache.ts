/**
 * A V8 code cache for the `dbops` command's dependencies, so a command that connects
 * (`dbops status`, `list`) does not parse and compile the Temporal client library (protobuf
 * descriptors, grpc-js) from source at every start. Node 22 has this built in
 * (`module.enableCompileCache`, used when present); Node 20 does not, so on Node 20 the files under
 * `node_modules` are compiled through `vm.Script` with the `cachedData` of an earlier run.
 *
 * The cache lives in `$DBOPS_COMPILE_CACHE_DIR`, else `$XDG_CACHE_HOME/dbops`, else
 * `~/.cache/dbops`, one directory per Node version and architecture, one file per module, named by
 * a hash of the module's path and source (a changed file gets a new entry). Each file carries a
 * hash of its own bytes: a torn or corrupt file is ignored and written again, and so is one that
 * V8 rejects (other flags). Anything that goes wrong (no home, read-only disk, an odd module) falls
 * back to Node's own loading: the cache can make a command faster, never break it.
 * `DBOPS_COMPILE_CACHE=off` turns it off. Only the CLI installs it (not the worker, not tests).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

interface InternalModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string): unknown;
}
type ModuleStatics = {
  _resolveFilename(request: string, parent: InternalModule, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: InternalModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
  enableCompileCache?: (dir?: string) => unknown;
};

const NODE_MODULES = `${path.sep}node_modules${path.sep}`;
const HASH_BYTES = 20; // sha1

export function cacheDir(env: NodeJS.ProcessEnv): string {
  const base =
    env.DBOPS_COMPILE_CACHE_DIR ??
    path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'dbops', 'compile-cache');
  return path.join(base, `${process.version}-${process.arch}`);
}

const sha1 = (...parts: Array<string | Buffer>) => {
  const h = crypto.createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The cached data in a cache file, if the file is whole (its leading hash matches). */
export function readEntry(file: string): Buffer | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length <= HASH_BYTES) return undefined;
  const data = buf.subarray(HASH_BYTES);
  return sha1(data).equals(buf.subarray(0, HASH_BYTES)) ? data : undefined;
}

function writeEntry(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([sha1(data), data]));
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** Installs the cache for this process; returns how it did it (for the benchmark), or 'off'. */
export function installCompileCache(env: NodeJS.ProcessEnv = process.env): 'node' | 'vm' | 'off' {
  if (env.DBOPS_COMPILE_CACHE === 'off') return 'off';
  const M = Module as unknown as ModuleStatics & { prototype: InternalModule };
  const dir = cacheDir(env);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch {
    return 'off';
  }
  if (typeof M.enableCompileCache === 'function') {
    try {
      M.enableCompileCache(dir);
      return 'node';
    } catch {
      return 'off';
    }
  }
  const original = M.prototype._compile;
  const pending: Array<{ file: string; script: vm.Script }> = [];
  M.prototype._compile = function compile(this: InternalModule, content: string, filename: string) {
    if (!filename.includes(NODE_MODULES) || !filename.endsWith('.js')) return original.call(this, content, filename);
    let fn: (...args: unknown[]) => unknown;
    try {
      const file = path.join(dir, sha1(filename, '\0', content).toString('hex'));
      const cachedData = readEntry(file);
      const script = new vm.Script(Module.wrap(content), {
        filename,
        cachedData,
        importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      });
      if (!cachedData || script.cachedDataRejected) pending.push({ file, script });
      fn = script.runInThisContext({ displayErrors: true }) as typeof fn;
    } catch {
      return original.call(this, content, filename);
    }
    return fn.call(this.exports, this.exports, requireOf(M, this), this, filename, path.dirname(filename));
  };
  // Written when the command ends: the code then includes the functions the command ran.
  process.once('exit', () => {
    for (const { file, script } of pending) {
      try {
        writeEntry(file, script.createCachedData());
      } catch {
        // a cache that cannot be written is only slower next time
      }
    }
  });
  return 'vm';
}

/** The `require` a module's code is given, as Node makes it (resolve, paths, main, cache). */
function requireOf(M: ModuleStatics, mod: InternalModule) {
  return Object.assign((id: string) => mod.require(id), {
    resolve: Object.assign((request: string, options?: unknown) => M._resolveFilename(request, mod, false, options), {
      paths: (request: string) => M._resolveLookupPaths(request, mod),
    }),
    main: require.main,
    extensions: M._extensions,
    cache: M._cache,
  });
}

// The `dbops` command imports this module first (src/client/cli.ts); nothing else installs it.
if (require.main && require.main.filename === path.join(__dirname, 'cli.js')) installCompileCache();
