// Encodes and decodes raw Avro binary datums with avsc, an Avro
// implementation independent of the hamba/avro library the project uses:
//
//	node avsc.mjs <node_modules dir> encode <schema file>   (stdin: JSON array of values in Avro's JSON encoding)
//	node avsc.mjs <node_modules dir> decode <schema file>   (stdin: JSON array of base64 datums)
//
// encode prints a JSON array of base64 datums; decode prints a JSON array
// of the values in Avro's JSON encoding (unions as {"type": value}, bytes
// as strings of code points 0-255), or, for a datum avsc rejects, an
// object {"error": message}. A datum with bytes left over is an error.
// internal/avsctest embeds and runs it; scripts/test.sh installs avsc.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [modules, mode, schemaFile] = process.argv.slice(2);
if (!modules || !['encode', 'decode'].includes(mode) || !schemaFile) {
	console.error('usage: node avsc.mjs <node_modules dir> encode|decode <schema file>');
	process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), 'index.js'));
const avro = require('avsc');

const type = avro.Type.forSchema(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
let out;
if (mode === 'encode') {
	out = input.map((v) => type.toBuffer(type.fromString(JSON.stringify(v))).toString('base64'));
} else {
	out = input.map((b64) => {
		try {
			const buf = Buffer.from(b64, 'base64');
			const res = type.decode(buf, 0);
			if (res.offset !== buf.length) {
				return { error: `datum of ${buf.length} bytes: ${res.offset < 0 ? 'truncated' : 'trailing bytes at ' + res.offset}` };
			}
			return JSON.parse(type.toString(res.value));
		} catch (e) {
			return { error: String(e.message || e) };
		}
	});
}
process.stdout.write(JSON.stringify(out) + '\n');
