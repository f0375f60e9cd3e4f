// Vercel AI SDK 5 (npm `ai@5`): telemetry built into `ai` (experimental_telemetry, ai.* spans as in v4), with
// @ai-sdk/openai 2 (openai(modelId) is the Responses API by default) and @ai-sdk/google 2 (Gemini, thinking via
// providerOptions.google.thinkingConfig). Gemini's thoughtsTokenCount reaches the spans only inside
// ai.response.providerMetadata, and as the gap in ai.usage.totalTokens.
// The module resolve hook, the tracer provider and the scenario spans: _common.mjs (imported first).
import { PROMPT, drain, rateLimitedScenarios, scenario, setup } from './_common.mjs';

const { generateText, streamText, tool, jsonSchema, stepCountIs } = await import('ai');
const { createOpenAI } = await import('@ai-sdk/openai');
const { createGoogleGenerativeAI } = await import('@ai-sdk/google');

const provider = setup();

const openai = createOpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const google = createGoogleGenerativeAI({ baseURL: `${process.env.GEMINI_BASE_URL}/v1beta`, apiKey: process.env.GOOGLE_API_KEY });
const common = (functionId) => ({
  maxRetries: 0,
  experimental_telemetry: {
    isEnabled: true, functionId, metadata: { userId: 'u-1', sessionId: 's-1', tenant: 'capture-tenant' },
  },
});
const getCapital = tool({
  description: 'The capital city of a country.',
  inputSchema: jsonSchema({ type: 'object', properties: { country: { type: 'string' } }, required: ['country'] }),
  execute: async () => 'Paris',
});
const thinking = { google: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } } };

await scenario('generate_text', () => generateText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital') }));
await scenario('reasoning', () => generateText({
  model: openai('gpt-4o-mini'), prompt: PROMPT, providerOptions: { openai: { reasoningEffort: 'low' } },
  ...common('capital-reasoning'),
}));
await scenario('stream_text', () =>
  drain(streamText({ model: openai('gpt-4o-mini'), prompt: PROMPT, ...common('capital-stream') })));
await scenario('tool_loop', () => generateText({
  // get_capital twice, then the answer: three model calls, three steps.
  model: openai('gpt-4o-mini'), prompt: `call-tool-twice: ${PROMPT}`, tools: { get_capital: getCapital },
  stopWhen: stepCountIs(5), ...common('capital-tools'),
}));
await scenario('gemini', () => generateText({ model: google('gemini-2.5-flash'), prompt: PROMPT, ...common('capital-gemini') }));
await scenario('gemini_thinking', () => generateText({
  model: google('gemini-2.5-flash'), prompt: PROMPT, providerOptions: thinking, ...common('capital-gemini'),
}));
await scenario('gemini_stream', () => drain(streamText({
  model: google('gemini-2.5-flash'), prompt: PROMPT, providerOptions: thinking, ...common('capital-gemini-stream'),
})));
await scenario('gemini_tool_loop', () => generateText({
  model: google('gemini-2.5-flash'), prompt: `call-tool-twice: ${PROMPT}`, tools: { get_capital: getCapital },
  stopWhen: stepCountIs(5), ...common('capital-gemini-tools'),
}));
await scenario('failed', async () => {
  try {
    await generateText({ model: openai('gpt-4o-mini'), prompt: 'fail-always please', ...common('capital-failed') });
  } catch (error) {
    console.log('failed:', error?.constructor?.name, error?.statusCode);
  }
});
await rateLimitedScenarios({ generateText, model: () => openai('gpt-4o-mini'), common });
await provider.shutdown();
