// Shared by the Node scenario scripts (vercel-ai*.mjs): the module resolve hook, the tracer provider, the
// per-scenario app span, and the scenarios every `ai` version runs alike. Import it before anything else.
//
// The harness runs `node <script>` from the repository root, so bare imports would resolve next to the scripts,
// not in .capture/<name>/node_modules where the harness installed the packages: a resolve hook redirects them
// (for the scripts and this module alike). <name> is the script's own name, or $CAPTURE_LIBRARY.
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const NAME = process.env.CAPTURE_LIBRARY ?? path.basename(process.argv[1]).replace(/\.mjs$/, '');
const HOME = pathToFileURL(path.resolve(path.dirname(process.argv[1]), '../../../.capture', NAME) + '/package.json').href;
const SCENARIOS = pathToFileURL(path.dirname(process.argv[1]) + '/').href;
register('data:text/javascript,' + encodeURIComponent(`
  export async function resolve(specifier, context, next) {
    const bare = !/^(\\.|\\/|node:|file:|data:)/.test(specifier);
    if (bare && context.parentURL && context.parentURL.startsWith(${JSON.stringify(SCENARIOS)}))
      return next(specifier, { ...context, parentURL: ${JSON.stringify(HOME)} });
    return next(specifier, context);
  }`));

const { trace } = await import('@opentelemetry/api');
const { NodeTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = await import('@opentelemetry/resources');

export const PROMPT = 'What is the capital of France?';

/** The global tracer provider (service.name capture-<name>), exporting to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
export function setup() {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': `capture-${NAME}` }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())], // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  });
  provider.register();
  return provider;
}

/** Runs body() in its own trace under an app span carrying request.id=<name>, tenant.id and feature.name. */
export async function scenario(name, body) {
  await trace.getTracer('capture-app').startActiveSpan(`scenario ${name}`, {
    attributes: { 'request.id': name, 'tenant.id': 'capture-tenant', 'feature.name': 'capture' },
  }, async (span) => {
    try {
      await body();
    } finally {
      span.end();
    }
  });
}

/** Reads a streamText result to its end, usage included. */
export async function drain(result) {
  for await (const _ of result.textStream);
  await result.usage;
}

/**
 * rate_limited_retry and rate_limited_error, the same in every `ai` version: the script's own generateText, a
 * `model()` factory for the OpenAI model and its `common(functionId)` options (maxRetries: 0 plus telemetry).
 */
export async function rateLimitedScenarios({ generateText, model, common }) {
  await scenario('rate_limited_retry', () => generateText({
    // The SDK's own retry: attempt 1 gets 429, attempt 2 (maxRetries: 1) succeeds, inside one generateText.
    model: model(), prompt: 'rate-limit-once please', ...common('capital-retry'), maxRetries: 1,
  }));
  await scenario('rate_limited_error', async () => {
    // maxRetries: 0, so the 429 fails the call: error status on the spans.
    try {
      await generateText({ model: model(), prompt: 'rate-limit-once, no retry', ...common('capital-error') });
    } catch (error) {
      console.log('rate_limited_error:', error?.constructor?.name, error?.statusCode);
    }
  });
}
