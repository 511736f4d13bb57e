/**
 * One span per AWS call when traces are on (README, "Traces"): a child of the activity's span,
 * covering the SDK's retries and the rate-limit wait, with AWS's request id, the service, the
 * operation, the region, the HTTP status and the number of attempts. No request or reply content:
 * a failed call is named by its error code only (AWS messages may quote input). Loaded only by the
 * traced worker (src/temporal/tracing-sdk.ts); src/activities/aws-clients.ts adds it to each client.
 */
import { SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';

type Handler = (args: unknown) => Promise<unknown>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;

/** The middleware for one client (added in its initialize step, outside the retries). */
export type AwsCallSpans = (service: string, region: string) => Middleware;

interface Metadata {
  requestId?: string;
  httpStatusCode?: number;
  attempts?: number;
}

function recordMetadata(span: Span, m: Metadata | undefined): void {
  if (m?.requestId) span.setAttribute('aws.request_id', m.requestId);
  if (m?.httpStatusCode !== undefined) span.setAttribute('http.response.status_code', m.httpStatusCode);
  if (m?.attempts !== undefined) span.setAttribute('aws.attempts', m.attempts);
}

export function awsCallSpans(tracer: Tracer): AwsCallSpans {
  return (service, region) => (next, context) => (args) => {
    // Only inside a traced activity: a call outside any trace would start a trace of its own.
    if (!trace.getActiveSpan()) return next(args);
    const operation = (context.commandName ?? '').replace(/Command$/, '');
    const attributes = {
      'rpc.system': 'aws-api',
      'rpc.service': service,
      'rpc.method': operation,
      'aws.service': service,
      'aws.operation': operation,
      'cloud.region': region,
    };
    return tracer.startActiveSpan(`${service}.${operation}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        const result = await next(args);
        recordMetadata(span, (result as { output?: { $metadata?: Metadata } }).output?.$metadata);
        return result;
      } catch (err) {
        const e = err as { name?: string; $metadata?: Metadata };
        recordMetadata(span, e.$metadata);
        const code = e.name ?? 'Error';
        span.setAttribute('aws.error_code', code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        throw err;
      } finally {
        span.end();
      }
    });
  };
}
