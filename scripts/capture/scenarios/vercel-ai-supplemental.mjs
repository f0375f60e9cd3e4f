// ai@7 OpenTelemetry integration with its supplemental usage and providerMetadata attributes on
// (OpenTelemetry({ usage: true, providerMetadata: true, runtimeContext: true })); same scenarios as vercel-ai.mjs.
process.env.VERCEL_AI_SUPPLEMENTAL = 'all';
await import('./vercel-ai.mjs');
