// The `mssante` section of the configuration: the gateway's applicative mailbox (BAL APP) at an MSSanté operator —
// its address, the organisation's certificate and the CA of the operator's servers, the SMTP server it sends through,
// the IMAP server it takes mail in from, and the limits put on what it reads. Destinations of kind `mssante`
// (outbox/config.ts) send through this mailbox.
import { z } from 'zod';

/** How the connection is secured: TLS from the first byte (SMTPS 465, IMAPS 993) or STARTTLS (587/25, 143). */
const security = z.enum(['implicit', 'starttls']);

const mailbox = z.email({ message: 'expected a mail address (local@domain)' });

export const mssanteConfigSchema = z
  .object({
    /** The BAL APP address: the From of every message, and the mailbox read over IMAP. */
    address: mailbox,
    /** Display name of the From. */
    name: z.string().trim().min(1).max(128).default('Passerelle'),
    /** Organisation named in the XDM README and the message body (default: the document's establishment). */
    organization: z.string().trim().min(1).max(256).optional(),
    /** X-MSS-NIL: the product reference of the convergence.esante.gouv.fr declaration. */
    nil: z.string().trim().min(1).max(128).default('PASSERELLE-TEST'),
    /** Right part of the Message-IDs (default: the domain of `address`). */
    messageIdDomain: z.string().regex(/^[A-Za-z0-9.-]+$/).optional(),
    /**
     * The organisation's certificate ("personne morale", IGC Santé): PKCS#12 with the key and chain, presented to
     * the SMTP and IMAP servers; `ca`: PEM of the CA(s) their certificates must chain to (IGC Santé in production).
     */
    tls: z
      .object({
        pkcs12: z.string().min(1),
        /** Its passphrase (env PASSERELLE_MSSANTE_PASSPHRASE overrides it). */
        passphrase: z.string().default(''),
        ca: z.string().min(1),
        /** Server name checked in the servers' certificates (default: the host names). */
        servername: z.string().min(1).optional(),
      })
      .strict(),
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(465),
        security: security.default('implicit'),
        /** SMTP AUTH user and password (file or env); absent: the client certificate alone. */
        user: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
        timeoutMs: z.number().int().positive().default(30_000),
        /** Connections kept open to the server (pooled transport). */
        maxConnections: z.number().int().min(1).max(32).default(2),
      })
      .strict(),
    imap: z
      .object({
        /** Take mail in (`passerelle serve`); off: the mailbox is only sent from. */
        enabled: z.boolean().default(true),
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(993),
        security: security.default('implicit'),
        /** Login (default: `address`) and password (file or env). */
        user: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
        /** Folder read, and where a message goes once taken in (`processed`) or refused (`error`). */
        mailbox: z.string().min(1).default('INBOX'),
        processed: z.string().min(1).default('Processed'),
        error: z.string().min(1).default('Error'),
        /** Time between two polls of the mailbox. */
        pollMs: z.number().int().min(100).default(30_000),
        timeoutMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .optional(),
    /** What an incoming message may weigh and unpack to (hostile attachments are refused, see docs/mssante.md). */
    limits: z
      .object({
        maxMessageBytes: z.number().int().positive().default(25 * 1024 * 1024),
        maxUncompressedBytes: z.number().int().positive().default(20 * 1024 * 1024),
        maxEntries: z.number().int().positive().default(100),
        maxCompressionRatio: z.number().positive().default(100),
      })
      .strict()
      .default({ maxMessageBytes: 25 * 1024 * 1024, maxUncompressedBytes: 20 * 1024 * 1024, maxEntries: 100, maxCompressionRatio: 100 }),
  })
  .strict();

export type MssanteConfig = z.infer<typeof mssanteConfigSchema>;

/** The right part of the Message-IDs: `messageIdDomain`, else the domain of the BAL APP address. */
export const messageIdDomainOf = (c: Pick<MssanteConfig, 'address' | 'messageIdDomain'>): string => c.messageIdDomain ?? c.address.slice(c.address.lastIndexOf('@') + 1);
