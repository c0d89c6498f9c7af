// The PostgreSQL server the tests use (PASSERELLE_TEST_PG_URL, default the local one .ci/run starts), and whether it
// answers. Pair with `available` (test/support/shared.ts): skipped with a message locally, a failure under CI=true.
import pg from 'pg';

export const PG_TEST_URL = process.env.PASSERELLE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Why the server does not answer, or undefined when it does. */
export async function pgUnreachable(url = PG_TEST_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a test's own schema (and everything in it), e.g. in `afterAll`. */
export async function dropPgSchema(schema: string, url = PG_TEST_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
