import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { it } from 'node:test';
import { formatRequests, parseRequestCounts, requestCounts } from './kafka-requests.ts';

const EXPOSITION = `# HELP kafka_network_requestmetrics_requests_total Requests
# TYPE kafka_network_requestmetrics_requests_total counter
kafka_network_requestmetrics_requests_total{request="Produce",version="11",} 120.0
kafka_network_requestmetrics_requests_total{request="Produce",version="9",} 30.0
kafka_network_requestmetrics_requests_total{request="Fetch",version="12",} 1.0E3
kafka_network_requestmetrics_requests_total{request="EndTxn",version="3",} 10.0
kafka_server_brokertopicmetrics_messagesin_total 999.0
`;

it('sums request counts over API versions and ignores other metrics', () => {
  assert.deepEqual([...parseRequestCounts(EXPOSITION)], [['Produce', 150], ['Fetch', 1000], ['EndTxn', 10]]);
});

it('per message: the difference over the phase, largest first, rare types left out of the line, FetchConsumer not counted twice', () => {
  const before = new Map([['Produce', 100], ['Fetch', 500], ['EndTxn', 10]]);
  const after = new Map([['Produce', 300], ['Fetch', 900], ['FetchConsumer', 900], ['EndTxn', 10], ['Heartbeat', 1]]);
  const f = formatRequests(before, after, 200);
  assert.equal(f.line, 'Fetch 2.00, Produce 1.00');
  assert.equal(f.total, 3.005);
});

it('scrapes an exporter over HTTP; no exporter gives nothing', async () => {
  const srv = createServer((_req, res) => res.end(EXPOSITION));
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/metrics`;
  try {
    assert.equal((await requestCounts(url)).get('Produce'), 150);
  } finally {
    await new Promise((ok) => srv.close(ok));
  }
  assert.equal((await requestCounts(url)).size, 0);
});
