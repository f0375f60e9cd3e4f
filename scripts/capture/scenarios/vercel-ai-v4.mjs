// Vercel AI SDK 4 (npm `ai@4`): the old telemetry, built into `ai` itself (tracer "ai" from the global provider),
// switched on per call by experimental_telemetry: { isEnabled, functionId, metadata } -> ai.telemetry.metadata.*;
// spans ai.generateText / ai.generateText.doGenerate / ai.streamText.doStream / ai.embed.doEmbed / ai.toolCall,
// usage as ai.usage.promptTokens / completionTokens (embeddings: ai.usage.tokens). Same scenarios as vercel-ai.mjs.
// The module resolve hook, the tracer provider and the scenario spans: _common.mjs (imported first).
import { PROMPT, drain, rateLimitedScenarios, scenario, setup } from './_common.mjs';

const { generateText, streamText, embed, tool, jsonSchema } = await import('ai');
const { createOpenAI } = await import('@ai-sdk/openai');
const { createAnthropic } = await import('@ai-sdk/anthropic');

const provider = setup();

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const anthropic = createAnthropic({ baseURL: `${process.env.ANTHROPIC_BASE_URL}/v1`, apiKey: process.env.ANTHROPIC_API_KEY });
const common = (functionId) => ({
  maxRetries: 0,
  experimental_telemetry: {
    isEnabled: true, functionId, metadata: { userId: 'u-1', sessionId: 's-1', tenant: 'capture-tenant' },
  },
});

// In @ai-sdk/openai 1.x, openai(modelId) is Chat Completions; openai.responses(modelId) is the Responses API.
await scenario('generate_text', () => generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('generate_text_responses', () =>
  generateText({ model: openai.responses('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('stream_text', () =>
  drain(streamText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') })));
await scenario('stream_text_responses', () =>
  drain(streamText({ model: openai.responses('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') })));
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
await rateLimitedScenarios({ generateText, model: () => openai('gpt-4o-mini'), common });
await provider.shutdown();
