// The graphql-http audit suite (the GraphQL-over-HTTP spec's own conformance checks)
// against a running gateway at GATEWAY_URL. Prints one JSON line: how many audits, and
// each that is not "ok" with its reason. Exits 0 only if every audit is ok (no error, no
// warning, no notice). Started by tests/tests/api/http_protocol.rs.

import { auditServer } from 'graphql-http';

const url = `${process.env.GATEWAY_URL}/graphql`;
const results = await auditServer({ url });
const notOk = results
  .filter((result) => result.status !== 'ok')
  .map((result) => ({ id: result.id, status: result.status, name: result.name, reason: result.reason }));
console.log(JSON.stringify({ total: results.length, ok: results.length - notOk.length, notOk }));
process.exit(notOk.length === 0 ? 0 : 1);
