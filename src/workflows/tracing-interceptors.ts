/**
 * Workflow interceptor module of the traced bundle (dist/workflows.otel.bundle.js, used when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set; src/temporal/workflow-bundle.ts), after the SDK's OpenTelemetry
 * interceptors. Each activity a stage schedules gets the stage's name: as `dbops.stage` on its
 * StartActivity span, and in a `dbops-stage` header that the worker's activity interceptor puts on
 * its RunActivity span (src/temporal/tracing-sdk.ts). A header is not part of what replay compares:
 * no command changes. Not exported from index.ts (it is not a workflow).
 */
import { trace } from '@opentelemetry/api';
import {
  defaultPayloadConverter,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { STAGE_ATTRIBUTE, STAGE_HEADER } from '../domain/trace-attributes';
import { currentStageName, trackStages } from './progress';

function withStage<T extends ActivityInput | LocalActivityInput>(input: T): T {
  const stage = currentStageName();
  if (stage === undefined) return input;
  trace.getActiveSpan()?.setAttribute(STAGE_ATTRIBUTE, stage);
  return { ...input, headers: { ...input.headers, [STAGE_HEADER]: defaultPayloadConverter.toPayload(stage) } };
}

class StageOutbound implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
    return next(withStage(input));
  }

  scheduleLocalActivity(
    input: LocalActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
  ) {
    return next(withStage(input));
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  trackStages();
  return { outbound: [new StageOutbound()] };
};
