// Runs each query of argv[5..] through @clickhouse/client and prints one JSON line per query:
// {"rows": [...]} or {"error": "...", "code": "..."}, then {"ping": true|false}.
// argv: url, password, database, clickhouse_settings as JSON.
import { createClient } from '@clickhouse/client'

const [url, password, database, settings, ...queries] = process.argv.slice(2)
const client = createClient({ url, username: 'default', password, database,
                              clickhouse_settings: JSON.parse(settings) })
for (const query of queries) {
  try {
    const result = await client.query({ query, format: 'JSONEachRow' })
    console.log(JSON.stringify({ rows: await result.json() }))
  } catch (error) {
    console.log(JSON.stringify({ error: String(error.message), code: error.code ?? null }))
  }
}
console.log(JSON.stringify({ ping: (await client.ping()).success }))
await client.close()
