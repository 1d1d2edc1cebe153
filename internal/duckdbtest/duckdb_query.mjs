// Runs one SQL query with DuckDB, an implementation independent of
// parquet-go, and prints the result as JSON:
//
//	node duckdb_query.mjs <node_modules dir> <sql>
//
// prints {"columns": [{"name": ..., "type": ...}], "rows": [{...}]}, where
// the types are DuckDB's (BIGINT, TIMESTAMP WITH TIME ZONE, VARCHAR[], ...)
// and the values DuckDB's JSON forms. The session's time zone is UTC.
// internal/duckdbtest embeds and runs it; scripts/test.sh installs
// @duckdb/node-api.
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, sql] = process.argv.slice(2);
if (!modules || !sql) {
	console.error('usage: node duckdb_query.mjs <node_modules dir> <sql>');
	process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), 'index.js'));
const { DuckDBInstance } = require('@duckdb/node-api');

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
// Timestamps with a time zone print in the session's zone: make it UTC
// (the test also runs node with TZ=UTC, for builds without ICU).
try {
	await conn.run("SET TimeZone = 'UTC'");
} catch {}
const reader = await conn.runAndReadAll(sql);
const names = reader.columnNames();
const types = reader.columnTypes();
const out = {
	columns: names.map((name, i) => ({ name, type: types[i].toString() })),
	rows: reader.getRowObjectsJson(),
};
process.stdout.write(JSON.stringify(out) + '\n');
conn.closeSync?.();
instance.closeSync?.();
