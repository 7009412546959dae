// Parses and validates an AsyncAPI document with the AsyncAPI Initiative's parser:
// the AsyncAPI 3 JSON Schema plus its semantic rules. Prints the diagnostics as JSON
// and exits 1 when any is an error (severity 0).
import { Parser, fromFile } from '@asyncapi/parser';

const path = process.argv[2];
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
console.log(JSON.stringify(diagnostics.map(d => ({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('.') }))));
process.exit(document && !diagnostics.some(d => d.severity === 0) ? 0 : 1);
