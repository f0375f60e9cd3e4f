// Vercel AI SDK (npm `ai`) with its OpenTelemetry integration from @ai-sdk/otel, exported by the OTel Node SDK.
//
// ai@7: telemetry is on once an integration is registered (registerTelemetry); `telemetry` replaced
// `experimental_telemetry` (kept as a deprecated alias) and has no `metadata`: app values go in `runtimeContext`,
// and reach spans only when listed in telemetry.includeRuntimeContext (and, for `OpenTelemetry`, with its
// supplemental option runtimeContext: true -> ai.settings.context.*).
// VERCEL_AI_INTEGRATION=legacy registers LegacyOpenTelemetry (ai.generateText / .doGenerate spans, ai.* keys)
// instead of OpenTelemetry (GenAI semconv: invoke_agent / step / chat); VERCEL_AI_SUPPLEMENTAL=all turns on the
// supplemental usage and providerMetadata attributes of OpenTelemetry as well. (Used by the vercel-ai-* variants.)
// The module resolve hook, the tracer provider and the scenario spans: _common.mjs (imported first).
import { PROMPT, drain, rateLimitedScenarios, scenario, setup } from './_common.mjs';

const { generateText, streamText, embed, tool, jsonSchema, stepCountIs, registerTelemetry } = await import('ai');
const { OpenTelemetry, LegacyOpenTelemetry } = await import('@ai-sdk/otel');
const { createOpenAI } = await import('@ai-sdk/openai');
const { createAnthropic } = await import('@ai-sdk/anthropic');

const provider = setup();
const legacy = process.env.VERCEL_AI_INTEGRATION === 'legacy';
const supplemental = process.env.VERCEL_AI_SUPPLEMENTAL === 'all' ? { usage: true, providerMetadata: true } : {};
registerTelemetry(legacy ? new LegacyOpenTelemetry() : new OpenTelemetry({ runtimeContext: true, ...supplemental }));

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const anthropic = createAnthropic({ baseURL: `${process.env.ANTHROPIC_BASE_URL}/v1`, apiKey: process.env.ANTHROPIC_API_KEY });
const runtimeContext = { userId: 'u-1', sessionId: 's-1', tenant: 'capture-tenant' };
const telemetry = (functionId) => ({
  isEnabled: true, functionId, includeRuntimeContext: { userId: true, sessionId: true, tenant: true },
});
const common = (functionId) => ({ maxRetries: 0, runtimeContext, telemetry: telemetry(functionId) });

// openai(modelId) is the Responses API in @ai-sdk/openai >= 2 (ai >= 5); openai.chat(modelId) is Chat Completions.
await scenario('generate_text', () => generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('generate_text_chat', () => generateText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('stream_text', () =>
  drain(streamText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') })));
await scenario('stream_text_chat', () =>
  drain(streamText({ model: openai.chat('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') })));
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
await rateLimitedScenarios({ generateText, model: () => openai('gpt-4o-mini'), common });
await provider.shutdown();
