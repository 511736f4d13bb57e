/**
 * The one place that builds AWS SDK clients: once per (service, region, role), honouring the
 * default credential chain, AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL (how tests point at moto).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { identityOf, type AwsRateLimiter } from './aws-rate-limit';
import { commandNameMiddleware, DbopsRetryStrategy } from './aws-retry';
import type { AwsCallSpans } from './aws-tracing';

export interface AwsClientOptions {
  /** Endpoint override for every service (moto); default AWS_ENDPOINT_URL or the real AWS. */
  endpoint?: string;
  defaultRegion?: string;
  /** Explicit credentials (tests); default: the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
  /** Called before every AWS call (tests and benchmarks count calls with it). */
  onCall?: (service: string, command: string, region: string) => void;
  /**
   * The client-side rate limit every call (every SDK attempt) goes through, the STS calls that
   * assume roles too (src/activities/aws-rate-limit.ts); default none. The worker's own clients get
   * one from its configuration (createActivities).
   */
  rateLimiter?: AwsRateLimiter;
  /** One span per call when traces are on (src/activities/aws-tracing.ts); default none. */
  callSpans?: AwsCallSpans;
}

type Stack = { add: (mw: unknown, o: unknown) => void };

type Ctor<T> = new (config: Record<string, unknown>) => T;

/**
 * The pinned SDK supports Node 20 (dbops's minimum); its notice that versions published from 2027
 * will need Node 22 is not for dbops's users, so it is off unless set otherwise.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class AwsClients {
  private readonly cache = new Map<string, unknown>();

  constructor(private readonly opts: AwsClientOptions = {}) {}

  /** From an environment; keys given there are used as they are, else the SDK's default chain. */
  static fromEnv(env: NodeJS.ProcessEnv, extra: Pick<AwsClientOptions, 'rateLimiter' | 'callSpans'> = {}): AwsClients {
    const credentials =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            sessionToken: env.AWS_SESSION_TOKEN,
          }
        : undefined;
    return new AwsClients({
      endpoint: env.AWS_ENDPOINT_URL,
      defaultRegion: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
      credentials,
      ...extra,
    });
  }

  get defaultRegion(): string | undefined {
    return this.opts.defaultRegion;
  }

  private get<T>(ctor: Ctor<T>, service: string, region: string | undefined, roleArn?: string): T {
    const r = region ?? this.opts.defaultRegion;
    if (!r) throw new Error(`no AWS region for ${service}: set AWS_REGION or give a region in the input`);
    const key = `${service}|${r}|${roleArn ?? ''}`;
    let client = this.cache.get(key) as T | undefined;
    if (!client) {
      const maxAttempts = this.opts.maxAttempts ?? 5;
      const base: Record<string, unknown> = {
        region: r,
        maxAttempts,
        retryStrategy: new DbopsRetryStrategy(maxAttempts),
      };
      if (this.opts.endpoint) base.endpoint = this.opts.endpoint;
      if (this.opts.credentials) base.credentials = this.opts.credentials;
      const limiter = this.opts.rateLimiter;
      if (roleArn) {
        // AssumeRole is made with the worker's own credentials: it counts against the worker's STS budget.
        const sts = { identity: 'worker', region: r, service: 'sts' };
        base.credentials = fromTemporaryCredentials({
          params: { RoleArn: roleArn, RoleSessionName: 'dbops' },
          clientConfig: { region: r, ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}) },
          ...(this.opts.credentials ? { masterCredentials: this.opts.credentials } : {}),
          ...(limiter
            ? { clientPlugins: [{ applyToStack: (s: unknown) => addRateLimit(s as Stack, limiter, sts) }] }
            : {}),
        });
      }
      client = new ctor(base);
      const stack = (client as unknown as { middlewareStack: Stack }).middlewareStack;
      stack.add(commandNameMiddleware(), { step: 'initialize', name: 'dbopsCommandName' });
      if (this.opts.callSpans)
        stack.add(this.opts.callSpans(service, r), { step: 'initialize', priority: 'high', name: 'dbopsCallSpan' });
      if (limiter) addRateLimit(stack, limiter, { identity: identityOf(roleArn), region: r, service });
      const onCall = this.opts.onCall;
      if (onCall) {
        stack.add(
          (next: (a: unknown) => unknown, context: { commandName?: string }) => (args: unknown) => {
            onCall(service, (context.commandName ?? '').replace(/Command$/, ''), r);
            return next(args);
          },
          { step: 'initialize', name: 'dbopsCallCounter' },
        );
      }
      this.cache.set(key, client);
    }
    return client;
  }

  ec2(region?: string, roleArn?: string): EC2Client {
    return this.get(EC2Client as Ctor<EC2Client>, 'ec2', region, roleArn);
  }
  /** KMS: the refresh's dry run checks the clone's and the snapshot's keys (kms:DescribeKey). */
  kms(region?: string): KMSClient {
    return this.get(KMSClient as Ctor<KMSClient>, 'kms', region);
  }
  rds(region?: string, roleArn?: string): RDSClient {
    return this.get(RDSClient as Ctor<RDSClient>, 'rds', region, roleArn);
  }
  route53(roleArn?: string): Route53Client {
    return this.get(Route53Client as Ctor<Route53Client>, 'route53', 'us-east-1', roleArn);
  }
  sts(region?: string, roleArn?: string): STSClient {
    return this.get(STSClient as Ctor<STSClient>, 'sts', region, roleArn);
  }
  secretsManager(region?: string): SecretsManagerClient {
    return this.get(SecretsManagerClient as Ctor<SecretsManagerClient>, 'secretsmanager', region);
  }
}

/** Inside the SDK's retry loop (finalizeRequest, low priority): every attempt takes a token. */
function addRateLimit(stack: Stack, limiter: AwsRateLimiter, scope: Parameters<AwsRateLimiter['middleware']>[0]) {
  stack.add(limiter.middleware(scope), { step: 'finalizeRequest', priority: 'low', name: 'dbopsRateLimit' });
}
