// DMP route (issue 5): documents per second from a PPP to "accepted by the local DMP peer", with the split per step
// integrators ask for — render (header facts + PDF/A), wrap (CDA R2 N1 + XDS metadata), sign (XAdES submission-set
// signature + VIHF + SOAP/MTOM packaging), transport (HTTPS with the client certificate, the peer's checks — VIHF and
// XAdES signatures, metadata rules, CDA agreement, hash — and its answer; the peer's XSD check is timed apart).
// Then the same through the gateway: POST /ppp → outbox → ITI-41, until every document is registered.
// Baselines in the same run: the transport step against a TLS endpoint that only reads the request and answers
// Success (what the peer's strict checks cost), and the gateway without the DMP route (what the route adds).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startServer } from '../src/api/app.js';
import { mountDomainRoutes } from '../src/api/domain-routes.js';
import { configFrom } from '../src/config.js';
import { sendIti41 } from '../src/connectors/dmp/client.js';
import { vihfOf } from '../src/connectors/dmp/connector.js';
import { buildIti41Request } from '../src/connectors/dmp/iti41.js';
import { loadOrganisationCredentials } from '../src/connectors/dmp/tls.js';
import { parseDocument } from '../src/domain/parse.js';
import { documentIds } from '../src/documents/ids.js';
import type { DocumentRequest } from '../src/documents/model.js';
import { buildDocument } from '../src/documents/pipeline.js';
import { loadDocumentSettings } from '../src/documents/settings.js';
import { outboxConfigSchema } from '../src/outbox/config.js';
import { startDispatcher } from '../src/services/outbox-dispatch.js';
import { startDmpPeer } from '../src/sandbox/dmp/server.js';
import { generateTestPki } from '../src/sandbox/pki.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { machine } from './stats.js';

const DOCS = Number(process.env.DMP_BENCH_DOCS ?? 200);
const CONCURRENCY = 4;
const GATEWAY_DOCS = Number(process.env.DMP_BENCH_GATEWAY_DOCS ?? 100);
const SCHEMAS = path.resolve(process.env.DMP_BENCH_SCHEMAS ?? '../shared/standards/ihe-xds-ebrs-schemas');
const ROOT = '1.2.250.1.999.42';

const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(46)}: ${figure}${beside ? `   ${beside}` : ''}`);
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const ms = (xs: readonly number[]): string => `p50 ${pct(xs, 0.5).toFixed(1)} ms, p99 ${pct(xs, 0.99).toFixed(1)} ms`;

const fixture = JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as Record<string, unknown>;
/** A distinct PPP per document (its own id, so its own uniqueId), same content size. */
const pppInput = (i: number): Record<string, unknown> => ({ ...fixture, id: `BENCH-${i}` });

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-dmp-bench-'));
try {
  console.log(`machine: ${machine()}; ${DOCS} documents (PPP with 12 medicines), ${CONCURRENCY} in flight for the concurrent figure`);
  const pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  const schemaDir = existsSync(SCHEMAS) ? SCHEMAS : undefined;
  if (!schemaDir) console.log(`(${SCHEMAS} absent: the peer runs without its XSD check)`);
  // Two peers: the strict one of the tests (with the XDS.b XSD check, when the schemas are at hand) and the one
  // `npm start` runs (every other check, no XSD). The XSD check runs a WebAssembly xmllint per request.
  const startPeer = (xsd: string | undefined) =>
    startDmpPeer({
      port: 0,
      tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
      vihfTrust: pki.pem.ca,
      repositoryUniqueId: `${ROOT}.9.1`,
      requireSubmissionSignature: true,
      ...(xsd ? { schemaDir: xsd } : {}),
    });
  const peer = await startPeer(undefined);
  const xsdPeer = schemaDir ? await startPeer(schemaDir) : undefined;
  // Baseline receiver: mutual TLS, reads the whole request, answers a fixed Success (no parsing, no checks).
  const success = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' +
      '<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></s:Body></s:Envelope>',
  );
  const bare = createServer({ key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/soap+xml; charset=UTF-8' });
      res.end(success);
    });
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `https://127.0.0.1:${(bare.address() as AddressInfo).port}/si-dmp-server/v2/services/repository`;

  const settings = loadDocumentSettings();
  const creds = await loadOrganisationCredentials({ pkcs12Path: pki.files.orgP12, passphrase: pki.passphrase, caPath: pki.files.ca });
  const destination = outboxConfigSchema.parse({ destinations: { dmp: { kind: 'dmp', url: peer.iti41Url, tls: { pkcs12: pki.files.orgP12 } } } }).destinations.dmp;
  if (destination.kind !== 'dmp') throw new Error('unreachable');
  const requestOf = (i: number): DocumentRequest => {
    const document = parseDocument('ppp', pppInput(i));
    return { source: { kind: 'ppp', document }, patient: document.patient, ids: documentIds(ROOT, 'ppp', document.establishment.finess, document.id, 1), effectiveTime: '2026-11-22T10:00:00+01:00' };
  };

  interface Steps {
    render: number;
    wrap: number;
    sign: number;
    transport: number;
    total: number;
    body: Buffer;
    contentType: string;
  }
  const one = async (i: number, url: string): Promise<Steps> => {
    const t0 = performance.now();
    const built = await buildDocument(requestOf(i), settings, { sourceId: `${ROOT}.0` });
    const t1 = performance.now();
    const request = buildIti41Request(built.submission, creds, vihfOf(destination, built.header), { to: url, encoding: 'mtom', messageId: randomUUID(), now: new Date() });
    const t2 = performance.now();
    const outcome = await sendIti41(request, { url, credentials: creds });
    const t3 = performance.now();
    if (outcome.disposition !== 'success') throw new Error(`document ${i} refused: ${outcome.reason}`);
    return { render: built.timings.renderMs, wrap: built.timings.wrapMs, sign: t2 - t1, transport: t3 - t2, total: t3 - t0, body: request.body, contentType: request.contentType };
  };

  // Warm-up (fonts, profiles, TLS session, the peer's XSD compilation): not counted.
  for (let i = 0; i < 5; i++) await one(-1 - i, peer.iti41Url);

  const steps: Steps[] = [];
  const seqStart = performance.now();
  for (let i = 0; i < DOCS; i++) steps.push(await one(i, peer.iti41Url));
  const seqSeconds = (performance.now() - seqStart) / 1000;

  let next = DOCS;
  const concStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < 2 * DOCS) await one(next++, peer.iti41Url);
    }),
  );
  const concSeconds = (performance.now() - concStart) / 1000;

  // The strict peer (XSD check): transport only, same kind of documents.
  const xsdTransport: number[] = [];
  if (xsdPeer) {
    for (let i = 0; i < Math.min(DOCS, 50); i++) xsdTransport.push((await one(10_000 + i, xsdPeer.iti41Url)).transport);
  }

  // Baseline: the same request bodies, sent to the bare TLS endpoint.
  const bareTransport: number[] = [];
  for (const s of steps) {
    const t = performance.now();
    const outcome = await sendIti41({ contentType: s.contentType, body: s.body }, { url: bareUrl, credentials: creds });
    bareTransport.push(performance.now() - t);
    if (outcome.disposition !== 'success') throw new Error(`baseline: ${outcome.reason}`);
  }
  const col = (k: 'render' | 'wrap' | 'sign' | 'transport' | 'total'): number[] => steps.map((s) => s[k]);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sizes = steps.map((s) => s.body.length);
  console.log(`\nPer document, in process (request ${Math.round(mean(sizes) / 1024)} KiB MTOM; PDF/A + CDA + XAdES + VIHF):`);
  line('render (header facts + PDF/A-2b)', ms(col('render')), `mean ${mean(col('render')).toFixed(1)} ms`);
  line('wrap (CDA R2 N1 + XDS metadata)', ms(col('wrap')), `mean ${mean(col('wrap')).toFixed(1)} ms`);
  line('sign (XAdES + VIHF + SOAP/MTOM)', ms(col('sign')), `mean ${mean(col('sign')).toFixed(1)} ms`);
  line('transport (mTLS + peer checks + answer)', ms(col('transport')), `mean ${mean(col('transport')).toFixed(1)} ms; baseline bare TLS endpoint ${ms(bareTransport)} (${(pct(col('transport'), 0.5) / pct(bareTransport, 0.5)).toFixed(1)}×)`);
  if (xsdTransport.length > 0) line('transport, peer with its XDS.b XSD check', ms(xsdTransport), '(a WebAssembly xmllint run per request: the test peer, not the gateway)');
  line('total', ms(col('total')), '');
  line('documents/s, one at a time', `${(DOCS / seqSeconds).toFixed(1)} /s`, `(${seqSeconds.toFixed(1)} s for ${DOCS})`);
  line(`documents/s, ${CONCURRENCY} in flight`, `${(DOCS / concSeconds).toFixed(1)} /s`, `(the peer shares the machine's ${machine().match(/\((\d+) cores\)/)?.[1] ?? '?'} cores)`);

  // Through the gateway: POST /ppp → one transaction (identity, FHIR resources, outbox row) → dispatcher → ITI-41.
  const gateway = async (withDmp: boolean): Promise<{ postSeconds: number; allSeconds: number }> => {
    const data = mkdtempSync(path.join(dir, withDmp ? 'gw-dmp-' : 'gw-plain-'));
    const config = configFrom({
      port: 0,
      dataDir: data,
      log: { level: 'silent' },
      outbox: withDmp
        ? {
            pollMs: 20,
            destinations: { dmp: { kind: 'dmp', url: peer.iti41Url, tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca }, concurrency: CONCURRENCY } },
            routes: [{ on: 'ppp.stored', destination: 'dmp' }],
          }
        : {},
    });
    const store = await openSqliteStore({ file: config.database });
    const server = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    const dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId: `${ROOT}.0` } });
    const post = (i: number) =>
      fetch(`${server.url}/ppp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pppInput(100_000 + i + (withDmp ? 0 : 50_000))) }).then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`POST /ppp: ${r.status}`);
      });
    for (let i = 0; i < 3; i++) await post(-10 - i); // warm-up: profiles, identity index
    const t0 = performance.now();
    let n = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (n < GATEWAY_DOCS) await post(n++);
      }),
    );
    const postSeconds = (performance.now() - t0) / 1000;
    if (withDmp) {
      for (;;) {
        const depth = await store.outbox.depth();
        const open = depth.filter((d) => d.state === 'pending' || d.state === 'inflight').reduce((a, d) => a + d.count, 0);
        const dead = depth.find((d) => d.state === 'dead')?.count ?? 0;
        if (dead > 0) throw new Error(`${dead} DMP deliveries dead`);
        if (open === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const allSeconds = (performance.now() - t0) / 1000;
    await dispatcher.stop(100);
    await server.close();
    await store.close();
    return { postSeconds, allSeconds };
  };
  const plain = await gateway(false);
  const viaDmp = await gateway(true);
  console.log(`\nThrough the gateway (${GATEWAY_DOCS} PPPs, ${CONCURRENCY} clients; the dispatcher delivers ${CONCURRENCY} at a time):`);
  line('POST /ppp → registered by the DMP peer', `${(GATEWAY_DOCS / viaDmp.allSeconds).toFixed(1)} documents/s`, `(${viaDmp.allSeconds.toFixed(1)} s; the POSTs alone took ${viaDmp.postSeconds.toFixed(1)} s)`);
  line('baseline: POST /ppp, no DMP route', `${(GATEWAY_DOCS / plain.allSeconds).toFixed(1)} PPPs/s`, `(${((GATEWAY_DOCS / plain.allSeconds) / (GATEWAY_DOCS / viaDmp.allSeconds)).toFixed(1)}× the DMP route's end-to-end rate)`);
  await new Promise<void>((r) => bare.close(() => r()));
  await peer.close();
  await xsdPeer?.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
