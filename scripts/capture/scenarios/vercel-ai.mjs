// Vercel AI SDK (npm `ai`) with its OpenTelemetry integration from @ai-sdk/otel, exported by the OTel Node SDK.
//
// ai@7: telemetry is on once an integration is registered (registerTelemetry); `telemetry` replaced
// `experimental_telemetry` (kept as a deprecated alias) and has no `metadata`: app values go in `runtimeContext`,
// and reach spans only when listed in telemetry.includeRuntimeContext (and, for `OpenTelemetry`, with its
// supplemental option runtimeContext: true -> ai.settings.context.*).
// VERCEL_AI_INTEGRATION=legacy registers LegacyOpenTelemetry (ai.generateText / .doGenerate spans, ai.* keys)
// instead of OpenTelemetry (GenAI semconv: invoke_agent / step / chat); VERCEL_AI_SUPPLEMENTAL=all turns on the
// supplemental usage and providerMetadata attributes of OpenTelemetry as well. (Used by the vercel-ai-* variants.)
//
// The harness runs `node <this file>` from the repository root, so bare imports would resolve next to this file,
// not in .capture/<name>/node_modules where the harness installed the packages: a resolve hook redirects them.
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const NAME = process.env.CAPTURE_LIBRARY ?? path.basename(process.argv[1]).replace(/\.mjs$/, '');
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
const { generateText, streamText, embed, tool, jsonSchema, stepCountIs, registerTelemetry } = await import('ai');
const { OpenTelemetry, LegacyOpenTelemetry } = await import('@ai-sdk/otel');
const { createOpenAI } = await import('@ai-sdk/openai');
const { createAnthropic } = await import('@ai-sdk/anthropic');

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': `capture-${NAME}` }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())], // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
});
provider.register();
const legacy = process.env.VERCEL_AI_INTEGRATION === 'legacy';
const supplemental = process.env.VERCEL_AI_SUPPLEMENTAL === 'all' ? { usage: true, providerMetadata: true } : {};
registerTelemetry(legacy ? new LegacyOpenTelemetry() : new OpenTelemetry({ runtimeContext: true, ...supplemental }));

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const anthropic = createAnthropic({ baseURL: `${process.env.ANTHROPIC_BASE_URL}/v1`, apiKey: process.env.ANTHROPIC_API_KEY });
const PROMPT = 'What is the capital of France?';
const runtimeContext = { userId: 'u-1', sessionId: 's-1', tenant: 'capture-tenant' };
const telemetry = (functionId) => ({
  isEnabled: true, functionId, includeRuntimeContext: { userId: true, sessionId: true, tenant: true },
});
const common = (functionId) => ({ maxRetries: 0, runtimeContext, telemetry: telemetry(functionId) });

const tracer = trace.getTracer('capture-app');
async function scenario(name, body) {
  await tracer.startActiveSpan(`scenario ${name}`, {
    attributes: { 'request.id': name, 'tenant.id': 'capture-tenant', 'feature.name': 'capture' },
  }, async (span) => {
    try {
      await body();
    } finally {
      span.end();
    }
  });
}

// openai(modelId) is the Responses API in @ai-sdk/openai >= 2 (ai >= 5); openai.chat(modelId) is Chat Completions.
await scenario('generate_text', () => generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('generate_text_chat', () => generateText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('stream_text', async () => {
  const result = streamText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') });
  for await (const _ of result.textStream);
  await result.usage;
});
await scenario('stream_text_chat', async () => {
  const result = streamText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') });
  for await (const _ of result.textStream);
  await result.usage;
});
await scenario('embed', () => embed({ model: openai.embedding('text-embedding-3-small'), value: 'hello', ...common('embed') }));
await scenario('generate_text_anthropic', () =>
  generateText({ model: anthropic('claude-sonnet-4-5'), prompt: PROMPT, ...common('capital-anthropic') }));
await scenario('tool_loop', () => generateText({
  model: openai('gpt-4o-mini'),
  // The stand-in answers "call-tool-once" with a call of get_capital, then with text: two model calls, two steps.
  prompt: `call-tool-once: ${PROMPT}`,
  tools: {
    get_capital: tool({
      description: 'The capital city of a country.',
      inputSchema: jsonSchema({ type: 'object', properties: { country: { type: 'string' } }, required: ['country'] }),
      execute: async () => 'Paris',
    }),
  },
  stopWhen: stepCountIs(5),
  ...common('capital-tools'),
}));
await scenario('rate_limited_retry', () => generateText({
  // The SDK's own retry: attempt 1 gets 429, attempt 2 (maxRetries: 1) succeeds, inside one generateText.
  model: openai('gpt-4o-mini'), prompt: 'rate-limit-once please', ...common('capital-retry'), maxRetries: 1,
}));
await scenario('rate_limited_error', async () => {
  // maxRetries: 0, so the 429 fails the call: error status on the spans.
  try {
    await generateText({ model: openai('gpt-4o-mini'), prompt: 'rate-limit-once, no retry', ...common('capital-error') });
  } catch (error) {
    console.log('rate_limited_error:', error?.constructor?.name, error?.statusCode);
  }
});
await provider.shutdown();
