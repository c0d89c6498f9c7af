// Document settings from mappings/documents.yaml: DMP codes per document kind, titles per situation, and
// per-establishment overrides. Loaded once, zod-checked, passed down to the header builder.
import { z } from 'zod';
import { packagedMappingFile, readYamlFile } from '../mapping-files.js';
import type { Organization } from '../domain/actors.js';
import { OID_PATTERN } from '../fhir/map-common.js';
import type { ClinicalDocumentKind, Coded, SourceDocument } from './model.js';

/** Where a document was produced: the PPP stay type (hospital entry door), or `ville` (community). */
export const SITUATIONS = ['hospitalisation', 'hdj', 'consultation', 'ville'] as const;
export type Situation = (typeof SITUATIONS)[number];

export const ORGANIZATION_KINDS = ['etablissement', 'officine', 'cabinet'] as const satisfies readonly Organization['kind'][];
export type OrganizationKind = (typeof ORGANIZATION_KINDS)[number];

const KINDS = ['ppp', 'ctm', 'bpm'] as const satisfies readonly ClinicalDocumentKind[];

/** Who answers for the document (CDA legalAuthenticator). */
export type LegalAuthenticatorRule = 'author' | 'bmo-validator';

export interface KindSettings {
  typeCode: Coded;
  /** Derived from typeCode through the ASS_X16 table of the settings file. */
  classCode: Coded;
  titles: Readonly<Record<Situation, string>>;
  legalAuthenticator: LegalAuthenticatorRule;
}

export interface EstablishmentSettings {
  titles?: { [K in ClinicalDocumentKind]?: Partial<Record<Situation, string>> };
  healthcareFacilityTypeCode?: Coded;
  practiceSettingCode?: Coded;
}

/** Header fields whose code may come from a code map keyed by the organisation's FINESS (documents.yaml `codeMaps`). */
export const CODE_MAPPED_FIELDS = ['healthcareFacilityTypeCode', 'practiceSettingCode'] as const;
export type CodeMappedField = (typeof CODE_MAPPED_FIELDS)[number];

/**
 * A code map as document metadata sees it (a mappings/codemaps file, loaded by the mappings layer): FINESS → code of
 * `targetSystem` (`urn:oid:…`). `unmapped` says what a FINESS missing from it is: `error` refuses the document,
 * `warning` keeps the default by kind of organisation and reports it.
 */
export interface MetadataCodeMap {
  name: string;
  targetSystem: string;
  unmapped: 'error' | 'warning';
  lookup(code: string): { target: string; display?: string } | undefined;
}

/** The code maps document metadata reads, by name, at the time of each document (so a reloaded map applies at once). */
export interface MetadataCodeMaps {
  get(name: string): MetadataCodeMap | undefined;
  /** Called for every FINESS a map does not list (log, metric). */
  onUnmapped?(map: string, finess: string, field: CodeMappedField): void;
}

export interface DocumentSettings {
  /** File the settings came from (or a label for inline settings). */
  source: string;
  /** Code maps named for header fields (documents.yaml `codeMaps`), FINESS → code. */
  codeMapRefs: Readonly<Partial<Record<CodeMappedField, string>>>;
  /** Where those code maps are read from: set by `withCodeMaps` (serve, `passerelle document`). */
  codeMaps?: MetadataCodeMaps;
  /**
   * The same maps as plain data (`clonableSettings`), for a worker thread, which receives the settings by structured
   * clone (no functions): each map reduced to the entry of the one document's FINESS, unmapped codes already reported.
   */
  codeMapEntries?: Readonly<Record<string, { targetSystem: string; unmapped: 'error' | 'warning'; entries: Readonly<Record<string, { target: string; display?: string }>> }>>;
  kinds: Readonly<Record<ClinicalDocumentKind, KindSettings>>;
  healthcareFacilityTypeCodes: Readonly<Record<OrganizationKind, Coded>>;
  practiceSettingCodes: Readonly<Record<OrganizationKind, Coded>>;
  contentTypeCodes: Readonly<Record<Situation, Coded>>;
  professions: Readonly<Partial<Record<'medecin' | 'pharmacien' | 'infirmier' | 'autre', Coded>>>;
  teamRoleSpecialties: Readonly<Partial<Record<string, Coded>>>;
  /** Patient-id domain URI → OID, for senders whose IPP domain is not an OID. */
  patientIdDomains: Readonly<Record<string, string>>;
  /** Keyed by FINESS. */
  establishments: Readonly<Record<string, EstablishmentSettings>>;
}

export class DocumentSettingsError extends Error {
  override readonly name = 'DocumentSettingsError';
}

/**
 * A consultation is not a discharge: whatever an establishment configures, a consultation document must not be
 * titled as a discharge prescription (the DMP reader would take it for one).
 */
const FORBIDDEN_CONSULTATION_TITLE = /ordonnance\s+de\s+sortie/i;

const FINESS = /^(\d{9}|2[AB]\d{7})$/;
const oid = z.string().regex(OID_PATTERN, 'expected an OID such as 1.2.250.1.213.1.1.4.1');
const coded = z.object({ code: z.string().trim().min(1), codeSystem: oid, display: z.string().trim().min(1) }).strict();
const title = z.string().trim().min(1).max(255);
const titles = z.object({ hospitalisation: title, hdj: title, consultation: title, ville: title }).strict();
const partialTitles = titles.partial();
const byOrganizationKind = z.object({ etablissement: coded, officine: coded, cabinet: coded }).strict();

const kindSchema = z
  .object({ typeCode: coded, titles, legalAuthenticator: z.enum(['author', 'bmo-validator']).default('author') })
  .strict();

const codeMapName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'expected the name of a code map under mappings/codemaps/');

const settingsSchema = z
  .object({
    codeMaps: z.object({ healthcareFacilityTypeCode: codeMapName, practiceSettingCode: codeMapName }).partial().strict().default({}),
    kinds: z.object({ ppp: kindSchema, ctm: kindSchema, bpm: kindSchema }).strict(),
    classCodes: z
      .object({
        codeSystem: oid,
        byTypeCode: z.record(z.string(), z.object({ code: z.string().trim().min(1), display: z.string().trim().min(1) }).strict()),
      })
      .strict(),
    healthcareFacilityTypeCodes: byOrganizationKind,
    practiceSettingCodes: byOrganizationKind,
    contentTypeCodes: z.object({ hospitalisation: coded, hdj: coded, consultation: coded, ville: coded }).strict(),
    professions: z.object({ medecin: coded, pharmacien: coded, infirmier: coded, autre: coded.optional() }).strict(),
    teamRoleSpecialties: z.record(z.string(), coded).default({}),
    patientIdDomains: z.record(z.string().min(1), oid).default({}),
    establishments: z
      .record(
        z.string(),
        z
          .object({
            titles: z.object({ ppp: partialTitles, ctm: partialTitles, bpm: partialTitles }).partial().strict().optional(),
            healthcareFacilityTypeCode: coded.optional(),
            practiceSettingCode: coded.optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const kind of KINDS) {
      const { typeCode } = s.kinds[kind];
      if (!s.classCodes.byTypeCode[typeCode.code]) {
        ctx.addIssue({
          code: 'custom',
          path: ['kinds', kind, 'typeCode', 'code'],
          message: `no classCode for typeCode "${typeCode.code}": add it under classCodes.byTypeCode (ASS_X16)`,
        });
      }
      if (s.kinds[kind].legalAuthenticator === 'bmo-validator' && kind !== 'ctm') {
        ctx.addIssue({ code: 'custom', path: ['kinds', kind, 'legalAuthenticator'], message: 'only a CTM has a BMO validator' });
      }
      checkConsultationTitle(ctx, s.kinds[kind].titles.consultation, ['kinds', kind, 'titles', 'consultation']);
    }
    for (const [finess, est] of Object.entries(s.establishments)) {
      if (!FINESS.test(finess)) {
        ctx.addIssue({ code: 'custom', path: ['establishments', finess], message: `establishments are keyed by FINESS (9 characters), got "${finess}"` });
      }
      for (const kind of KINDS) {
        const t = est.titles?.[kind]?.consultation;
        if (t !== undefined) checkConsultationTitle(ctx, t, ['establishments', finess, 'titles', kind, 'consultation']);
      }
    }
  });

function checkConsultationTitle(ctx: z.RefinementCtx, value: string, path: (string | number)[]): void {
  if (FORBIDDEN_CONSULTATION_TITLE.test(value)) {
    ctx.addIssue({ code: 'custom', path, message: `a consultation document cannot be titled "Ordonnance de sortie" (got "${value}")` });
  }
}

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => `  ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  return `invalid document settings (${source}):\n${lines.join('\n')}`;
}

/** Check and compile an already-parsed settings document; throws DocumentSettingsError naming each bad field. */
export function compileDocumentSettings(doc: unknown, source = '(inline)'): DocumentSettings {
  const parsed = settingsSchema.safeParse(doc);
  if (!parsed.success) throw new DocumentSettingsError(formatIssues(parsed.error, source));
  const s = parsed.data;
  const kindSettings = (kind: ClinicalDocumentKind): KindSettings => {
    const k = s.kinds[kind];
    const cls = s.classCodes.byTypeCode[k.typeCode.code];
    return { typeCode: k.typeCode, classCode: { ...cls, codeSystem: s.classCodes.codeSystem }, titles: k.titles, legalAuthenticator: k.legalAuthenticator };
  };
  return {
    source,
    codeMapRefs: s.codeMaps,
    kinds: { ppp: kindSettings('ppp'), ctm: kindSettings('ctm'), bpm: kindSettings('bpm') },
    healthcareFacilityTypeCodes: s.healthcareFacilityTypeCodes,
    practiceSettingCodes: s.practiceSettingCodes,
    contentTypeCodes: s.contentTypeCodes,
    professions: s.professions,
    teamRoleSpecialties: s.teamRoleSpecialties,
    patientIdDomains: s.patientIdDomains,
    establishments: s.establishments,
  };
}

/** Names of the code maps the settings refer to. */
export function referencedCodeMaps(settings: DocumentSettings): string[] {
  return [...new Set(Object.values(settings.codeMapRefs))];
}

/**
 * The settings with their code maps: every map they name must exist and code into an OID system (`urn:oid:…`, as
 * the CDA and XDS metadata need). Throws DocumentSettingsError naming what is missing.
 */
export function withCodeMaps(settings: DocumentSettings, codeMaps: MetadataCodeMaps): DocumentSettings {
  const problems: string[] = [];
  for (const [field, name] of Object.entries(settings.codeMapRefs)) {
    const map = codeMaps.get(name);
    if (!map) problems.push(`  codeMaps.${field}: code map "${name}" is not defined under mappings/codemaps/`);
    else if (!/^urn:oid:/.test(map.targetSystem) || !OID_PATTERN.test(map.targetSystem.slice(8))) {
      problems.push(`  codeMaps.${field}: code map "${name}" has target ${map.targetSystem}; document metadata needs an OID (urn:oid:…)`);
    }
  }
  if (problems.length > 0) throw new DocumentSettingsError(`invalid document settings (${settings.source}):\n${problems.join('\n')}`);
  return { ...settings, codeMaps };
}

/**
 * The settings as a worker thread can receive them (structured clone: no functions): the code maps they name reduced
 * to the entry of `finess` (the document's organisation), a FINESS a map does not list reported here, on the calling
 * thread (log, metric). Settings without code maps are returned as they are.
 */
export function clonableSettings(settings: DocumentSettings, finess: string): DocumentSettings {
  const { codeMaps, ...rest } = settings;
  if (!codeMaps) return settings;
  const maps: Record<string, { targetSystem: string; unmapped: 'error' | 'warning'; entries: Record<string, { target: string; display?: string }> }> = {};
  for (const [field, name] of Object.entries(settings.codeMapRefs) as [CodeMappedField, string][]) {
    const map = codeMaps.get(name);
    if (!map) continue;
    const entry = map.lookup(finess);
    if (!entry) codeMaps.onUnmapped?.(name, finess, field);
    const entries = maps[name]?.entries ?? {};
    if (entry) entries[finess] = { target: entry.target, ...(entry.display !== undefined ? { display: entry.display } : {}) };
    maps[name] = { targetSystem: map.targetSystem, unmapped: map.unmapped, entries };
  }
  return { ...rest, codeMapEntries: maps };
}

export const DEFAULT_DOCUMENT_SETTINGS_FILE: string = packagedMappingFile('documents.yaml');

/** Read and check the settings file. Throws DocumentSettingsError (unreadable file, bad YAML, bad field). */
export function loadDocumentSettings(file: string = DEFAULT_DOCUMENT_SETTINGS_FILE): DocumentSettings {
  const doc = readYamlFile(file, 'document settings', (message) => new DocumentSettingsError(message));
  return compileDocumentSettings(doc, file);
}

/** The situation a document was produced in: a PPP's stay type or entry door; a CTM is a hospital act; a BPM a community one. */
export function documentSituation(source: SourceDocument): Situation {
  switch (source.kind) {
    case 'ppp':
      return source.document.entryDoor === 'ville' ? 'ville' : (source.document.stayType ?? 'hospitalisation');
    case 'ctm':
      return 'hospitalisation';
    case 'bpm':
      return 'ville';
  }
}

/** The organisation that produces (and keeps) the document: the establishment, or the pharmacy for a BPM. */
export function documentOrganization(source: SourceDocument): Organization {
  return source.kind === 'bpm' ? source.document.pharmacy : source.document.establishment;
}

/** Title of the document: the establishment's override for this kind and situation, else the default. */
export function documentTitle(settings: DocumentSettings, source: SourceDocument): string {
  const situation = documentSituation(source);
  const override = settings.establishments[documentOrganization(source).finess]?.titles?.[source.kind]?.[situation];
  return override ?? settings.kinds[source.kind].titles[situation];
}
