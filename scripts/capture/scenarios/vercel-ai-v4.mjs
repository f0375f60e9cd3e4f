// Vercel AI SDK 4 (npm `ai@4`): the old telemetry, built into `ai` itself (tracer "ai" from the global provider),
// switched on per call by experimental_telemetry: { isEnabled, functionId, metadata } -> ai.telemetry.metadata.*;
// spans ai.generateText / ai.generateText.doGenerate / ai.streamText.doStream / ai.embed.doEmbed / ai.toolCall,
// usage as ai.usage.promptTokens / completionTokens (embeddings: ai.usage.tokens). Same scenarios as vercel-ai.mjs.
//
// The harness runs `node <this file>` from the repository root, so bare imports would resolve next to this file,
// not in .capture/<name>/node_modules where the harness installed the packages: a resolve hook redirects them.
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const NAME = path.basename(process.argv[1]).replace(/\.mjs$/, '');
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
const { generateText, streamText, embed, tool, jsonSchema } = await import('ai');
const { createOpenAI } = await import('@ai-sdk/openai');
const { createAnthropic } = await import('@ai-sdk/anthropic');

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': `capture-${NAME}` }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())], // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
});
provider.register();

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const anthropic = createAnthropic({ baseURL: `${process.env.ANTHROPIC_BASE_URL}/v1`, apiKey: process.env.ANTHROPIC_API_KEY });
const PROMPT = 'What is the capital of France?';
const common = (functionId) => ({
  maxRetries: 0,
  experimental_telemetry: {
    isEnabled: true, functionId, metadata: { userId: 'u-1', sessionId: 's-1', tenant: 'capture-tenant' },
  },
});

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

// In @ai-sdk/openai 1.x, openai(modelId) is Chat Completions; openai.responses(modelId) is the Responses API.
await scenario('generate_text', () => generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('generate_text_responses', () =>
  generateText({ model: openai.responses('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('stream_text', async () => {
  const result = streamText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') });
  for await (const _ of result.textStream);
  await result.usage;
});
await scenario('stream_text_responses', async () => {
  const result = streamText({ model: openai.responses('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') });
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
      parameters: jsonSchema({ type: 'object', properties: { country: { type: 'string' } }, required: ['country'] }),
      execute: async () => 'Paris',
    }),
  },
  maxSteps: 5,
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
