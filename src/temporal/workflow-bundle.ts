/**
 * The workflow bundle, built once by `npm run build` (dist/workflows.bundle.js) instead of at
 * every worker start. Next to it, dist/workflows.bundle.json lists every file webpack read to
 * build it, with its SHA-256, and the SDK version: the worker uses the bundle only when all of
 * them are still the same, and otherwise bundles at start (saying why).
 *
 * A second, traced bundle (dist/workflows.otel.bundle.js and .json) adds the OpenTelemetry
 * workflow interceptors; the worker runs it only when traces are on (src/temporal/tracing.ts), so a
 * worker without traces neither loads nor pays for them: every cached run evaluates the
 * OpenTelemetry workflow code again (it keeps per-run state), except the semantic conventions,
 * shared (bench/RESULTS.md, "traces").
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type Logger, type LogMetadata } from '@temporalio/worker';

export const BUNDLE_FILE = 'workflows.bundle.js';
export const MANIFEST_FILE = 'workflows.bundle.json';

/** `plain`: the workflows; `traced`: with the OpenTelemetry workflow interceptors (traces on). */
export type BundleKind = 'plain' | 'traced';

interface BundleVariant {
  file: string;
  manifest: string;
  /** Shared modules besides SHARED_MODULES (evaluated once per V8 context, then frozen). */
  preloadModules: () => string[];
  /** Workflow interceptor modules, in order (the first is outermost). */
  interceptorModules: () => string[];
}

const VARIANTS: Record<BundleKind, BundleVariant> = {
  plain: { file: BUNDLE_FILE, manifest: MANIFEST_FILE, preloadModules: () => [], interceptorModules: () => [] },
  traced: {
    file: 'workflows.otel.bundle.js',
    manifest: 'workflows.otel.bundle.json',
    // OpenTelemetry's semantic conventions (constants): once per context, not per run.
    preloadModules: () => [path.join(path.dirname(WORKFLOWS_PATH), '..', 'domain', 'otel-warm-up')],
    // The SDK's spans first, so the stage interceptor runs inside each StartActivity span.
    interceptorModules: () => [
      require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
      require.resolve('../workflows/tracing-interceptors'),
    ],
  },
};

/** The workflow interceptor modules a bundle of this kind has (the replay check builds both kinds). */
export function bundleInterceptorModules(kind: BundleKind): string[] {
  return VARIANTS[kind].interceptorModules();
}

/** The modules a bundle of this kind shares between the runs of a V8 context. */
export function bundlePreloadModules(kind: BundleKind): string[] {
  return [...SHARED_MODULES, ...VARIANTS[kind].preloadModules()];
}

/** The workflows the worker registers: src/workflows under ts-jest, dist/workflows when built. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

interface Manifest {
  sdkVersion: string;
  /** Paths relative to the manifest's directory → SHA-256 (hex). */
  files: Record<string, string>;
}

function sdkVersion(): string {
  return (
    JSON.parse(fs.readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string }
  ).version;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * The SDK logs webpack's list of bundled modules at INFO; dbops sends it to DEBUG. The list is the
 * only message the bundler logs without metadata.
 */
export function bundlerLogger(base: Logger): Logger {
  return {
    log: (level, message, meta) => base.log(level, message, meta),
    trace: (message, meta) => base.trace(message, meta),
    debug: (message, meta) => base.debug(message, meta),
    info: (message: string, meta?: LogMetadata) => (meta ? base.info(message, meta) : base.debug(message)),
    warn: (message, meta) => base.warn(message, meta),
    error: (message, meta) => base.error(message, meta),
  };
}

/**
 * Modules every run in a reusable V8 context shares instead of evaluating its own copy: zod, by
 * way of src/domain/zod-warm-up.ts. The SDK gives each run its own module cache, so each cached
 * run used to evaluate zod again (most of its ~1.3 MiB; bench/RESULTS.md, "memory"). A shared
 * module is evaluated once, when the context is made, before any run exists, then its exports are
 * deep-frozen: the warm-up lets zod finish its lazy set-up before that. The domain modules (the
 * schemas themselves) are not shared: zod adds members to a schema on first use, which a frozen
 * schema refuses. Absolute paths, so any workflowsPath (the tests' fixtures too) shares the same.
 */
export const SHARED_MODULES = [path.join(path.dirname(WORKFLOWS_PATH), '..', 'domain', 'zod-warm-up')];

/** Bundles the workflows, recording the files webpack read (those that exist on disk). */
async function bundle(logger: Logger, kind: BundleKind): Promise<{ code: string; files: string[] }> {
  let files: string[] = [];
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    preloadModules: bundlePreloadModules(kind),
    workflowInterceptorModules: bundleInterceptorModules(kind),
    logger: bundlerLogger(logger),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply: (compiler: { hooks: { done: { tap(name: string, fn: (stats: StatsLike) => void): void } } }) =>
            compiler.hooks.done.tap('dbops-bundle-manifest', (stats) => {
              files = [...stats.compilation.fileDependencies].filter((f) =>
                fs.statSync(f, { throwIfNoEntry: false })?.isFile(),
              );
            }),
        },
      ],
    }),
  });
  return { code, files };
}

interface StatsLike {
  compilation: { fileDependencies: Iterable<string> };
}

/** `npm run build`: writes the bundle of this kind and its manifest into `outDir`. */
export async function buildWorkflowBundle(
  outDir: string,
  logger: Logger,
  kind: BundleKind = 'plain',
): Promise<{ codePath: string }> {
  const { code, files } = await bundle(logger, kind);
  const manifest: Manifest = {
    sdkVersion: sdkVersion(),
    files: Object.fromEntries(files.sort().map((f) => [path.relative(outDir, f), sha256(f)])),
  };
  fs.mkdirSync(outDir, { recursive: true });
  const codePath = path.join(outDir, VARIANTS[kind].file);
  fs.writeFileSync(codePath, code);
  fs.writeFileSync(path.join(outDir, VARIANTS[kind].manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return { codePath };
}

/** The prebuilt bundle in `dir` if it was built from the files as they are now, else why not. */
export function checkWorkflowBundle(dir: string, kind: BundleKind = 'plain'): { codePath: string } | { stale: string } {
  const codePath = path.join(dir, VARIANTS[kind].file);
  const manifestPath = path.join(dir, VARIANTS[kind].manifest);
  if (!fs.existsSync(codePath) || !fs.existsSync(manifestPath))
    return { stale: `no prebuilt ${kind === 'plain' ? '' : `${kind} `}bundle in ${dir}` };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (err) {
    return { stale: `${manifestPath} is unreadable: ${(err as Error).message}` };
  }
  const sdk = sdkVersion();
  if (manifest.sdkVersion !== sdk) return { stale: `built with SDK ${manifest.sdkVersion}, this is ${sdk}` };
  const entry = path.relative(dir, WORKFLOWS_PATH);
  if (!(entry in (manifest.files ?? {}))) return { stale: `built from other workflows than ${WORKFLOWS_PATH}` };
  for (const [rel, hash] of Object.entries(manifest.files)) {
    const file = path.resolve(dir, rel);
    if (!fs.existsSync(file)) return { stale: `${file} is gone since the bundle was built` };
    if (sha256(file) !== hash) return { stale: `${file} changed since the bundle was built` };
  }
  return { codePath };
}

/**
 * What the worker runs: the prebuilt bundle when it is current, else a bundle made now.
 * `log` gets one line either way.
 */
export async function workflowBundleForWorker(
  dir: string,
  logger: Logger,
  log: (line: string) => void,
  kind: BundleKind = 'plain',
): Promise<{ codePath: string } | { code: string }> {
  const checked = checkWorkflowBundle(dir, kind);
  if ('codePath' in checked) {
    log(`workflows: prebuilt bundle ${checked.codePath}`);
    return checked;
  }
  log(`workflows: bundling at start (${checked.stale}; "npm run build" prebuilds it)`);
  return { code: (await bundle(logger, kind)).code };
}
