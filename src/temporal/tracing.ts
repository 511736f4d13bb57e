/**
 * Whether the worker sends traces, from the standard OpenTelemetry variables (README, "Traces"):
 * on when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set (and
 * OTEL_SDK_DISABLED is not true), off otherwise. This module loads no OpenTelemetry code: the worker
 * loads src/temporal/tracing-sdk.ts only when traces are on.
 */
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { AwsCallSpans } from '../activities/aws-tracing';

export const DEFAULT_SERVICE_NAME = 'dbops-worker';

export interface TracingSettings {
  /** Where spans are posted (OTLP/HTTP, JSON body). */
  url: string;
  /** service.name of every span (OTEL_SERVICE_NAME). */
  serviceName: string;
}

export class TracingConfigError extends Error {}

function httpUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not the value: a URL may carry credentials.
    throw new TracingConfigError(`${name} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TracingConfigError(`${name} must be an http:// or https:// URL (traces are sent over OTLP/HTTP)`);
  return url;
}

/**
 * The settings when traces are on, else undefined. As the OTLP exporter reads them: the traces
 * endpoint is used as it is; the base endpoint gets `v1/traces` appended.
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  let url: string;
  if (specific) url = httpUrl(specific, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT').toString();
  else if (base)
    url = httpUrl(`${base.endsWith('/') ? base : `${base}/`}v1/traces`, 'OTEL_EXPORTER_OTLP_ENDPOINT').toString();
  else return undefined;
  return { url, serviceName: env.OTEL_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME };
}

/** The worker's start-up line about traces: where to, without credentials or query in the URL. */
export function describeTracing(s: TracingSettings | undefined): string {
  if (!s) return 'traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)';
  const u = new URL(s.url);
  return `traces: OTLP/HTTP to ${u.protocol}//${u.host}${u.pathname} as service "${s.serviceName}"`;
}

/** What a traced worker adds (src/temporal/tracing-sdk.ts makes it). */
export interface WorkerTracing {
  /** Activity interceptors: the SDK's spans, then the stage attribute. */
  activityInterceptors: ActivityInterceptorsFactory[];
  /** The sink the traced bundle's workflow interceptors export their spans through. */
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** One span per AWS call, for the AWS clients (src/activities/aws-clients.ts). */
  awsCallSpans: AwsCallSpans;
  /** Sends the spans still buffered and stops; the worker calls it once it has stopped. */
  shutdown(): Promise<void>;
}
