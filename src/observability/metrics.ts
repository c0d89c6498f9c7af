// Prometheus metrics of one gateway process (prom-client): HTTP requests by route and status with latency
// histograms, outbox depth by destination and state (read from the store at scrape time), delivery attempts and
// their latency by destination and outcome, identity registrations by decision and grade, the identity review queue
// (open items by grade, the oldest one's age, BPMs on hold; read at scrape time). Labels never carry
// identities, names or document contents.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ResourceStore } from '../store/repository.js';
import { CS } from '../fhir/canonical.js';

/** `_tag` token of a BPM waiting for its patient's identity (src/services/bpm-attachment.ts AWAITING_IDENTITY). */
const AWAITING_IDENTITY_TOKEN = `${CS.identityState}|awaiting-identity`;

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly deliveries: Counter<'destination' | 'outcome'>;
  readonly deliveryDuration: Histogram<'destination' | 'outcome'>;
  readonly identityDecisions: Counter<'decision' | 'grade'>;
  readonly identityAnomalies: Counter<'code'>;
  /** Reloads of the mappings folder (issue 19), by result: ok (every file loaded), partial (some kept their last good version), error (nothing could be read). */
  readonly mappingsReloads: Counter<'result'>;
  /** Mapping files (formats, code maps) broken on disk, served at their last good version or not at all. */
  readonly mappingsBroken: Gauge;
  /** Codes a code map does not list, by map and use (document metadata; mapping runs report theirs as diagnostics). */
  readonly codeMapUnmapped: Counter<'map' | 'use'>;
  private store: ResourceStore | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'passerelle_' });
    this.httpRequests = new Counter({
      name: 'passerelle_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'passerelle_http_request_duration_seconds',
      help: 'HTTP request latency, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.deliveries = new Counter({
      name: 'passerelle_outbox_delivery_attempts_total',
      help: 'Outbox delivery attempts, by destination and outcome (delivered, retry, dead, released, lost-lease)',
      labelNames: ['destination', 'outcome'],
      registers: [this.registry],
    });
    this.deliveryDuration = new Histogram({
      name: 'passerelle_outbox_delivery_duration_seconds',
      help: 'Outbox delivery attempt latency, by destination and outcome',
      labelNames: ['destination', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.identityDecisions = new Counter({
      name: 'passerelle_identity_decisions_total',
      help: 'Identity registrations, by decision (auto-linked, review, new, known) and grade of the deciding comparison',
      labelNames: ['decision', 'grade'],
      registers: [this.registry],
    });
    this.identityAnomalies = new Counter({
      name: 'passerelle_identity_anomalies_total',
      help: 'Source identities registered at a lower status than declared, by anomaly code (QUAL_WITHOUT_INS, QUAL_PARTIAL_BIRTH_DATE, …)',
      labelNames: ['code'],
      registers: [this.registry],
    });
    this.mappingsReloads = new Counter({
      name: 'passerelle_mappings_reload_total',
      help: 'Reloads of the mappings folder, by result (ok, partial: a broken file keeps its last good version, error)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.mappingsBroken = new Gauge({
      name: 'passerelle_mappings_broken',
      help: 'Mapping files (formats, code maps) whose version on disk does not load',
      registers: [this.registry],
    });
    this.codeMapUnmapped = new Counter({
      name: 'passerelle_codemap_unmapped_total',
      help: 'Codes looked up in a code map that does not list them, by map and use (document: document metadata)',
      labelNames: ['map', 'use'],
      registers: [this.registry],
    });
    const depth = new Gauge({
      name: 'passerelle_outbox_messages',
      help: 'Outbox messages by destination and state (read from the database at scrape time)',
      labelNames: ['destination', 'state'],
      registers: [this.registry],
      collect: async () => {
        depth.reset();
        if (!this.store) return;
        for (const row of await this.store.outbox.depth()) depth.set({ destination: row.destination, state: row.state }, row.count);
      },
    });
    // The identity review queue (issue 21): open items by grade, the oldest one's age, the BPMs it holds back. The
    // registry collects gauges concurrently: each reads what it reports (one indexed GROUP BY each).
    const openStats = async () => this.store?.identities?.reviewStats({ state: 'open' });
    const reviews = new Gauge({
      name: 'passerelle_identity_reviews_open',
      help: 'Open identity review items by grade (read from the database at scrape time)',
      labelNames: ['grade'],
      registers: [this.registry],
      collect: async () => {
        reviews.reset();
        const stats = await openStats();
        if (!stats) return;
        for (const grade of ['certain', 'probable', 'possible', 'certainly-not'] as const) reviews.set({ grade }, stats.byGrade[grade] ?? 0);
      },
    });
    const oldestAge = new Gauge({
      name: 'passerelle_identity_review_oldest_age_seconds',
      help: 'Age of the oldest open identity review item, in seconds (0 when none is open)',
      registers: [this.registry],
      collect: async () => {
        const oldest = (await openStats())?.oldest;
        oldestAge.set(oldest ? Math.max(0, (Date.now() - Date.parse(oldest)) / 1000) : 0);
      },
    });
    const onHold = new Gauge({
      name: 'passerelle_bpm_on_hold',
      help: 'BPM CarePlans on hold until an identity review settles their patient (read from the database at scrape time)',
      registers: [this.registry],
      collect: async () => {
        onHold.reset();
        if (!this.store) return;
        const r = await this.store.search({ resourceType: 'CarePlan', predicates: [{ param: '_tag', prefix: 'eq', values: [AWAITING_IDENTITY_TOKEN] }], count: 0, offset: 0, total: true });
        onHold.set(r.total ?? 0);
      },
    });
  }

  /** The store whose outbox depth the gauge reports. */
  watch(store: ResourceStore): void {
    this.store = store;
  }

  attempt(destination: string, outcome: string, seconds: number): void {
    this.deliveries.inc({ destination, outcome });
    this.deliveryDuration.observe({ destination, outcome }, seconds);
  }
}

/** The process's metrics (one registry per process; tests may build their own `Metrics`). */
export const metrics = new Metrics();
