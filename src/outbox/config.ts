// The `outbox` section of the configuration: destinations (where messages go, how hard to retry), routes (which
// events send a message where) and the dispatcher's settings.
import { z } from 'zod';
import { MASKING_CODES } from '../documents/model.js';

/** Events a submission raises once it is stored. */
export const OUTBOX_EVENTS = ['ppp.stored', 'ctm.stored', 'bpm.stored'] as const;
export type OutboxEvent = (typeof OUTBOX_EVENTS)[number];

/** Delivery settings every destination has: timeout, concurrency, retries and circuit breaker. */
const delivery = {
  timeoutMs: z.number().int().positive().default(10_000),
  /** Deliveries in flight at once, per gateway process. */
  concurrency: z.number().int().positive().default(4),
  /** Attempts in all, the first included; then the message is dead. */
  maxAttempts: z.number().int().positive().default(12),
  /** Backoff: first retry after ~baseDelayMs (jittered), doubling, capped at maxDelayMs. */
  baseDelayMs: z.number().int().positive().default(1000),
  maxDelayMs: z.number().int().positive().default(600_000),
  circuit: z
    .object({ failureThreshold: z.number().int().positive().default(5), openMs: z.number().int().positive().default(30_000) })
    .strict()
    .default({ failureThreshold: 5, openMs: 30_000 }),
};

const httpDestination = z
  .object({
    kind: z.literal('http'),
    /** Receiver URL: the payload is POSTed as JSON with an `Idempotency-Key` header. */
    url: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
    ...delivery,
  })
  .strict();

/** The organisation's certificate ("personne morale", IGC Santé) and the CA the peer's certificate must chain to. */
const tlsClient = z
  .object({
    /** PKCS#12 file with the organisation's private key and certificate chain. */
    pkcs12: z.string().min(1),
    /** Its passphrase (env PASSERELLE_DMP_PASSPHRASE overrides it, so the file need not hold it). */
    passphrase: z.string().default(''),
    /** PEM file of the CA(s) trusted for the peer's server certificate (default: Node's public CAs). */
    ca: z.string().min(1).optional(),
  })
  .strict();

/** What the VIHF assertion says about the sending organisation and software (fr-interop §2.3). */
const vihf = z
  .object({
    version: z.string().default('3.0'),
    /** Who the access is for: "Prénom Nom" of the person responsible, or the software's name for an automaton. */
    subjectId: z.string().min(1).default('Passerelle'),
    /** Subject/NameID: the professional's IDNPS, or the id of the person responsible for the processing. */
    nameId: z.string().min(1).optional(),
    /** First role: the profession (TRE_G15) or AUTOMATE (1.2.250.1.213.1.1.4.6). */
    role: z.object({ code: z.string().min(1), codeSystem: z.string().min(1) }).strict().default({ code: 'AUTOMATE', codeSystem: '1.2.250.1.213.1.1.4.6' }),
    /** Secteur_Activite: TRE_R02 code (JDV_J61), e.g. SA01 établissement public de santé. */
    secteurActivite: z.string().min(1).default('SA01'),
    lps: z
      .object({
        id: z.string().min(1).default('passerelle'),
        name: z.string().min(1).default('Passerelle'),
        version: z.string().min(1).default('0.1.0'),
        /** LPS_ID_HOMOLOGATION_DMP: issued by the DMP programme; a test value until then. */
        homologation: z.string().min(1).default('TEST-HOMOLOGATION'),
      })
      .strict()
      .default({ id: 'passerelle', name: 'Passerelle', version: '0.1.0', homologation: 'TEST-HOMOLOGATION' }),
  })
  .strict();

/** The DMP over IHE XDS.b ITI-41 (SOAP 1.2, MTOM, VIHF, mutual TLS). */
const dmpDestination = z
  .object({
    kind: z.literal('dmp'),
    /** Repository endpoint (ITI-41, ITI-43), e.g. https://…/si-dmp-server/v2/services/repository. */
    url: z.url(),
    /** Registry endpoint (ITI-18); default: `url` with `repository` replaced by `registry`. */
    registryUrl: z.url().optional(),
    /** MTOM/XOP multipart (what the DMP expects) or the documents inline in base64. */
    encoding: z.enum(['mtom', 'inline']).default('mtom'),
    tls: tlsClient,
    vihf: vihf.default(vihf.parse({})),
    /** Signature algorithm of the VIHF and of the submission set (the 2023 ANS sample used RSA-SHA1). */
    signatureAlgorithm: z.enum(['rsa-sha256', 'rsa-sha1']).default('rsa-sha256'),
    /** Masking codes added to every document sent here (a submission may add more). */
    masking: z.array(z.enum(MASKING_CODES)).default([]),
    ...delivery,
  })
  .strict();

/** PDSm (IHE MHD ITI-65): the same submission as a FHIR transaction Bundle to a FHIR endpoint. */
const pdsmDestination = z
  .object({
    kind: z.literal('pdsm'),
    /** FHIR base URL the Bundle is POSTed to. */
    url: z.url(),
    tls: tlsClient.optional(),
    headers: z.record(z.string(), z.string()).optional(),
    masking: z.array(z.enum(MASKING_CODES)).default([]),
    ...delivery,
  })
  .strict();

/**
 * MSSanté (fr-interop §3): the document as IHE XDM in a mail from the gateway's mailbox (the `mssante` section), one
 * message per recipient: the care team's members of the roles listed, their address from the document or the local
 * directory (Annuaire Santé extraction); the patient's own mailbox only for a qualified INS.
 */
const mssanteDestination = z
  .object({
    kind: z.literal('mssante'),
    /** Care-team roles written to (PPP: the médecin traitant and the pharmacien d'officine). */
    recipients: z.array(z.enum(['geriatre', 'pharmacien-clinicien', 'medecin-traitant', 'pharmacien-officine', 'gestionnaire-cas'])).min(1).default(['medecin-traitant', 'pharmacien-officine']),
    /** Also write to the patient (`<INS matricule>@patient.mssante.fr`, qualified INS only), who must not reply. */
    patient: z.boolean().default(false),
    /** Ask each recipient for a receipt (Disposition-Notification-To). */
    receipt: z.boolean().default(true),
    ...delivery,
  })
  .strict();

const destination = z.discriminatedUnion('kind', [httpDestination, dmpDestination, pdsmDestination, mssanteDestination]);
export type DestinationConfig = z.infer<typeof destination>;
export type DmpDestinationConfig = z.infer<typeof dmpDestination>;
export type PdsmDestinationConfig = z.infer<typeof pdsmDestination>;
export type MssanteDestinationConfig = z.infer<typeof mssanteDestination>;
/** Destinations that receive clinical documents (PDF in CDA N1): DMP and PDSm only for a qualified INS. */
export const isDocumentDestination = (d: DestinationConfig): d is DmpDestinationConfig | PdsmDestinationConfig | MssanteDestinationConfig =>
  d.kind === 'dmp' || d.kind === 'pdsm' || d.kind === 'mssante';

/** The outbox destination FHIR Subscription notifications go through (reserved: not a configurable name). */
export const REST_HOOK_DESTINATION = 'rest-hook';

/**
 * FHIR R4 Subscriptions (rest-hook channel, docs/pathway.md "Subscriptions"): where their notifications may go, and
 * how hard they are retried. An endpoint must start with one of `endpoints` (same scheme, host and port; path
 * prefix), so a client cannot turn the gateway into a request forwarder (SSRF): empty, no Subscription is accepted.
 */
export const subscriptionsConfigSchema = z
  .object({
    /** Allowed endpoint prefixes, e.g. `https://dpi.chu.example/fhir-notify/`. */
    endpoints: z.array(z.url()).default([]),
    /** How often a process reloads the active Subscriptions it caches (writes in this process reload at once). */
    reloadMs: z.number().int().min(100).max(3_600_000).default(5000),
    /** `channel.header` entries at most, and the length of one. */
    maxHeaders: z.number().int().min(0).max(50).default(10),
    maxHeaderLength: z.number().int().min(16).max(8192).default(1024),
    ...delivery,
    maxAttempts: z.number().int().positive().default(8),
  })
  .strict();
export type SubscriptionsConfig = z.infer<typeof subscriptionsConfigSchema>;
export const DEFAULT_SUBSCRIPTIONS: SubscriptionsConfig = subscriptionsConfigSchema.parse({});

export const outboxConfigSchema = z
  .object({
    /** Run the dispatcher in this process (`passerelle serve`). */
    dispatcher: z.boolean().default(true),
    /** How long a claimed message is held before another process may take it over. */
    leaseMs: z.number().int().positive().default(60_000),
    pollMs: z.number().int().positive().default(250),
    batch: z.number().int().positive().default(64),
    /**
     * Attempts in a row that may end without an outcome (the process died during them) before a message is
     * quarantined as dead ("attempt did not finish"), so a document that kills its process cannot do so forever.
     */
    maxInterruptedAttempts: z.number().int().positive().default(3),
    /** Documents (PDF, CDA) are built on worker threads with these limits, so content cannot take the gateway down. */
    rendering: z
      .object({
        timeoutMs: z.number().int().positive().default(60_000),
        maxMemoryMb: z.number().int().min(64).default(512),
        threads: z.number().int().positive().default(1),
      })
      .strict()
      .default({ timeoutMs: 60_000, maxMemoryMb: 512, threads: 1 }),
    destinations: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'), destination).default({}),
    routes: z.array(z.object({ on: z.enum(OUTBOX_EVENTS), destination: z.string() }).strict()).default([]),
    /** FHIR Subscription notifications (destination `rest-hook`). */
    subscriptions: subscriptionsConfigSchema.default(DEFAULT_SUBSCRIPTIONS),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (REST_HOOK_DESTINATION in o.destinations) {
      ctx.addIssue({ code: 'custom', message: `"${REST_HOOK_DESTINATION}" is the destination of FHIR Subscription notifications: choose another name`, path: ['destinations', REST_HOOK_DESTINATION] });
    }
    o.routes.forEach((r, i) => {
      if (!(r.destination in o.destinations)) {
        ctx.addIssue({ code: 'custom', message: `unknown destination "${r.destination}"`, path: ['routes', i, 'destination'] });
      }
    });
  })
  .default({
    dispatcher: true,
    leaseMs: 60_000,
    pollMs: 250,
    batch: 64,
    maxInterruptedAttempts: 3,
    rendering: { timeoutMs: 60_000, maxMemoryMb: 512, threads: 1 },
    destinations: {},
    routes: [],
    subscriptions: DEFAULT_SUBSCRIPTIONS,
  });

export type OutboxConfig = z.infer<typeof outboxConfigSchema>;
