// ai@7 with @ai-sdk/otel's LegacyOpenTelemetry integration (ai.generateText / ai.generateText.doGenerate spans,
// ai.* keys) instead of OpenTelemetry; same scenarios as vercel-ai.mjs.
process.env.VERCEL_AI_INTEGRATION = 'legacy';
await import('./vercel-ai.mjs');
