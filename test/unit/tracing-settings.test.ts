/** When the worker sends traces and where (src/temporal/tracing.ts; README, "Traces"). */
import { describeTracing, TracingConfigError, tracingSettings } from '../../src/temporal/tracing';

test('off unless an OTLP endpoint is set; OTEL_SDK_DISABLED turns it off', () => {
  expect(tracingSettings({})).toBeUndefined();
  expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_SERVICE_NAME: 'x' })).toBeUndefined();
  expect(tracingSettings({ OTEL_EXPORTER_OTLP_HEADERS: 'a=b' })).toBeUndefined();
  expect(
    tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }),
  ).toBeUndefined();
  expect(describeTracing(undefined)).toBe('traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT to send them)');
});

test('the base endpoint gets v1/traces; the traces endpoint is used as it is and wins', () => {
  expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
    url: 'http://collector:4318/v1/traces',
    serviceName: 'dbops-worker',
  });
  expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.com/prefix/' })?.url).toBe(
    'https://otel.example.com/prefix/v1/traces',
  );
  expect(
    tracingSettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      OTEL_SERVICE_NAME: 'dbops-eu',
    }),
  ).toEqual({ url: 'http://traces:9999/custom', serviceName: 'dbops-eu' });
});

test('a bad endpoint stops the worker without repeating it; the start-up line drops credentials and query', () => {
  const secretish = 'http//user:hunter2@collector';
  expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: secretish })).toThrow(TracingConfigError);
  expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: secretish })).toThrow(
    /^OTEL_EXPORTER_OTLP_ENDPOINT is not a URL$/,
  );
  expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' })).toThrow(
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https:// URL (traces are sent over OTLP/HTTP)',
  );
  const s = tracingSettings({
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:hunter2@otel.example.com/v1/traces?key=k3y',
  });
  expect(describeTracing(s)).toBe('traces: OTLP/HTTP to https://otel.example.com/v1/traces as service "dbops-worker"');
});
