/**
 * The traced worker's OpenTelemetry set-up (README, "Traces"), loaded only when traces are on
 * (src/temporal/tracing.ts). Spans go through a batching processor to the OTLP/HTTP exporter (JSON
 * bodies; OTEL_EXPORTER_OTLP_HEADERS and the exporter's other variables are read by the exporter,
 * never logged). The worker calls `shutdown` once it has stopped, which sends what is buffered.
 *
 * Spans carry names, ids and outcomes, no payload: the SDK's interceptors serialize no input or
 * result; the workflow spans get the run's ids and type only (not the whole WorkflowInfo, which
 * holds the memo, search attributes and the last run's result); a failed activity's span carries
 * the failure the activity threw, which is the run's failure message, scrubbed where it is made
 * (src/activities/scrub.ts).
 */
import { trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow';
import { defaultPayloadConverter } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, InjectedSinks } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import { awsCallSpans } from '../activities/aws-tracing';
import { STAGE_ATTRIBUTE, STAGE_HEADER } from '../domain/trace-attributes';
import type { TracingSettings, WorkerTracing } from './tracing';

/** The WorkflowInfo fields a workflow span gets as attributes. */
const WORKFLOW_SPAN_FIELDS = ['workflowId', 'runId', 'workflowType', 'namespace', 'taskQueue', 'attempt'] as const;

/** The stage the workflow put in the activity's header (src/workflows/tracing-interceptors.ts). */
function stageFromHeader(headers: Record<string, unknown>): string | undefined {
  const payload = headers[STAGE_HEADER];
  if (!payload) return undefined;
  try {
    const stage = defaultPayloadConverter.fromPayload(payload as never);
    return typeof stage === 'string' ? stage.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

const stageInbound: ActivityInboundCallsInterceptor = {
  execute(input, next) {
    const stage = stageFromHeader(input.headers);
    const span: Span | undefined = trace.getActiveSpan();
    if (stage !== undefined) span?.setAttribute(STAGE_ATTRIBUTE, stage);
    return next(input);
  },
};

export function startTracing(s: TracingSettings, serviceVersion: string): WorkerTracing {
  const resource = new Resource({ [ATTR_SERVICE_NAME]: s.serviceName, [ATTR_SERVICE_VERSION]: serviceVersion });
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: s.url }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Activity spans are parents of the AWS call spans made inside them (async context); the
  // propagator is OTEL_PROPAGATORS', by default W3C trace context, as the workflow side's.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  const tracer = provider.getTracer('dbops');

  const exporter = makeWorkflowExporter(processor, resource);
  const sinks: InjectedSinks<OpenTelemetrySinks> = {
    exporter: {
      export: {
        fn: (info, spans) => {
          const picked = Object.fromEntries(WORKFLOW_SPAN_FIELDS.map((k) => [k, info[k]])) as unknown as WorkflowInfo;
          exporter.export.fn(picked, spans);
        },
      },
    },
  };
  return {
    activityInterceptors: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
      () => ({ inbound: stageInbound }),
    ],
    sinks,
    awsCallSpans: awsCallSpans(tracer),
    shutdown: () => provider.shutdown(),
  };
}
