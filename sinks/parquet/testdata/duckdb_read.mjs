// Reads a directory of Parquet files with DuckDB, as an implementation
// independent of parquet-go, and prints the rows as JSON:
//
//	node duckdb_read.mjs <node_modules dir> <output dir> [order by column]
//
// prints {"columns": [{"name": ..., "type": ...}], "rows": [{...}]}, where
// the types are DuckDB's (BIGINT, TIMESTAMP WITH TIME ZONE, VARCHAR[], ...)
// and the values DuckDB's JSON forms. The files are read with
// read_parquet('<dir>/**/*.parquet', hive_partitioning = true), so that
// Hive partition columns are recovered from the paths. The tests of
// sinks/parquet run it; scripts/test.sh installs @duckdb/node-api.
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, dir, orderBy] = process.argv.slice(2);
if (!modules || !dir) {
	console.error('usage: node duckdb_read.mjs <node_modules dir> <output dir> [order by column]');
	process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), 'index.js'));
const { DuckDBInstance } = require('@duckdb/node-api');

const quote = (s) => "'" + s.replaceAll("'", "''") + "'";
const ident = (s) => '"' + s.replaceAll('"', '""') + '"';

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
// Timestamps with a time zone print in the session's zone: make it UTC
// (the test also runs node with TZ=UTC, for builds without ICU).
try {
	await conn.run("SET TimeZone = 'UTC'");
} catch {}
let sql = `SELECT * FROM read_parquet(${quote(path.join(dir, '**', '*.parquet'))}, hive_partitioning = true)`;
if (orderBy) {
	sql += ` ORDER BY ${ident(orderBy)}`;
}
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
