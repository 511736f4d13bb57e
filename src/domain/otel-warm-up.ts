/**
 * The traced bundle's shared module (src/temporal/workflow-bundle.ts): brings in OpenTelemetry's
 * semantic conventions, constants only and about a third of the OpenTelemetry code that bundle
 * adds, so they are evaluated once per workflow sandbox instead of once per cached run. The
 * package is marked free of side effects, so a bare import would be dropped by the bundler: the
 * namespace is used. Exports nothing a run could change.
 */
import * as semconv from '@opentelemetry/semantic-conventions';

export const SEMCONV_CONSTANTS = Object.keys(semconv).length;
