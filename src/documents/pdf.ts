// The human-readable body of a clinical document: a French PDF/A-2b, tagged, with DejaVu Sans embedded.
// `pdfContent` says what the document says (pure data, testable); `renderPdf` lays it out. Same input, same bytes.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import * as fontkit from 'fontkit';
import PDFDocument from 'pdfkit';
import type { Bpm } from '../domain/bpm.js';
import {
  BMO_SOURCE_TYPES,
  BPM_STEPS,
  CARE_TEAM_ROLES,
  COMMUNICATION_CATEGORIES,
  CTM_DIVERGENCES,
  type CodeDef,
  displayOf,
  ENTRY_DOORS,
  FCT_ERROR_TYPES,
  FCT_LINE_STATUSES,
  FCT_RESOLUTIONS,
  FCT_SEVERITIES,
  PATHWAYS,
  PPP_DECISIONS,
  RCP_MODES,
  SFPC_INTERVENTIONS,
  SFPC_PROBLEMS,
  STAY_TYPES,
} from '../domain/codes.js';
import type { Ctm } from '../domain/ctm.js';
import type { Dosage, MedicationLine } from '../domain/drug.js';
import { INS_OIDS, type PatientIdentity } from '../domain/identity.js';
import type { Ppp } from '../domain/ppp.js';
import type { Problem, Recommendation } from '../domain/review.js';
import { invalid } from '../fhir/outcome.js';
import { breakLongWords } from './long-words.js';
import type { DocumentHeader, DocumentRequest } from './model.js';

// ---- Content model ------------------------------------------------------------------------------

/** One block of the document, in reading order. Table column widths are fractions of the text width. */
export type PdfBlock =
  | { kind: 'heading'; text: string }
  | { kind: 'fields'; fields: readonly (readonly [label: string, value: string])[] }
  | { kind: 'paragraph'; text: string }
  | { kind: 'entry'; title: string; lines: readonly string[] }
  | { kind: 'table'; columns: readonly { header: string; width: number }[]; rows: readonly (readonly string[])[] };

/** What the PDF says, block by block: the patient, the document's facts, then the kind's own sections. */
export function pdfContent(req: DocumentRequest, header: DocumentHeader): PdfBlock[] {
  const blocks = [...patientBlocks(header.patient), ...documentBlocks(header)];
  switch (req.source.kind) {
    case 'ppp':
      return [...blocks, ...pppBlocks(req.source.document)];
    case 'ctm':
      return [...blocks, ...ctmBlocks(req.source.document)];
    case 'bpm':
      return [...blocks, ...bpmBlocks(req.source.document)];
  }
}

const SEX_LABELS: Record<PatientIdentity['sex'], string> = { F: 'Féminin', M: 'Masculin', I: 'Indéterminé' };
const IDENTITY_STATUS_LABELS: Record<PatientIdentity['status'], string> = {
  PROV: 'provisoire',
  RECUP: 'récupérée',
  VALI: 'validée',
  QUAL: 'qualifiée',
};
const INS_KIND_LABELS: Record<string, string> = {
  [INS_OIDS.NIR]: 'NIR',
  [INS_OIDS.NIA]: 'NIA',
  [INS_OIDS['NIR-TEST']]: 'NIR de test',
  [INS_OIDS['NIR-DEMO']]: 'NIR de démonstration',
};

function patientBlocks(p: PatientIdentity): PdfBlock[] {
  const givenNames = p.birthGivenNames?.join(' ') ?? p.firstBirthGivenName;
  const fields: [string, string][] = [
    ['Nom de naissance', p.birthName],
    ...(p.usedName ? [['Nom utilisé', p.usedName] as [string, string]] : []),
    ['Prénom(s) de naissance', givenNames],
    ...(p.usedGivenName ? [['Prénom utilisé', p.usedGivenName] as [string, string]] : []),
    ['Date de naissance', partialDate(p.birthDate)],
    ['Sexe', SEX_LABELS[p.sex]],
    ...(p.birthPlaceInsee ? [['Lieu de naissance (code INSEE)', birthPlace(p.birthPlaceInsee)] as [string, string]] : []),
    // The header builder keeps the INS only for a qualified identity; it is printed exactly when it is carried.
    ...(p.ins ? [['INS', `${p.ins.matricule} (${INS_KIND_LABELS[p.ins.oid] ?? p.ins.oid})`] as [string, string]] : []),
    ['Identité', IDENTITY_STATUS_LABELS[p.status]],
    ['Identifiant local', p.sourceId.value],
  ];
  return [{ kind: 'heading', text: 'Patient' }, { kind: 'fields', fields }];
}

function documentBlocks(h: DocumentHeader): PdfBlock[] {
  const fields: [string, string][] = [
    ['Type de document', h.typeCode.display],
    ['Structure', `${h.organization.name} (FINESS ${h.organization.finess})`],
    ['Auteur', `${fullName(h.author)}, ${(h.author.specialty ?? h.author.profession).display}`],
    ['Responsable', `${fullName(h.legalAuthenticator)}, ${(h.legalAuthenticator.specialty ?? h.legalAuthenticator.profession).display}`],
    ['Date du document', dateTime(h.effectiveTime)],
    ['Version', String(h.ids.version)],
  ];
  return [{ kind: 'heading', text: 'Document' }, { kind: 'fields', fields }];
}

// ---- PPP ----

function pppBlocks(ppp: Ppp): PdfBlock[] {
  const inclusion = ppp.entryDoor === 'hopital' && ppp.stayType
    ? `${label(ENTRY_DOORS, ppp.entryDoor)} — ${label(STAY_TYPES, ppp.stayType)}`
    : label(ENTRY_DOORS, ppp.entryDoor);
  const pathway: [string, string][] = [
    ['Dispositif', label(PATHWAYS, ppp.pathway)],
    ['Inclusion', inclusion],
    ['Plan créé le', dateTime(ppp.created)],
    ...(ppp.sentAt ? [['Plan envoyé le', dateTime(ppp.sentAt)] as [string, string]] : []),
    ...(ppp.consent ? [['Consentement', `${ppp.consent.given ? 'recueilli' : 'refusé'} le ${dateTime(ppp.consent.date)}`] as [string, string]] : []),
  ];
  const team = ppp.team.map((m) => [label(CARE_TEAM_ROLES, m.role), fullName(m.practitioner)] as const);
  const byRpps = new Map(ppp.team.map((m) => [m.practitioner.rpps, fullName(m.practitioner)]));
  const blocks: PdfBlock[] = [
    { kind: 'heading', text: 'Parcours' },
    { kind: 'fields', fields: pathway },
    { kind: 'heading', text: 'Équipe de soins' },
    { kind: 'fields', fields: team },
    { kind: 'heading', text: 'Réunion de concertation pluriprofessionnelle (RCP)' },
  ];
  if (ppp.rcp) {
    const rcp = ppp.rcp;
    blocks.push({
      kind: 'fields',
      fields: [
        ['Mode', label(RCP_MODES, rcp.mode)],
        [rcp.mode === 'sync' ? 'Date' : 'Ouverture des échanges', dateTime(rcp.date)],
        ...(rcp.deadline ? [['Date limite des avis', dateTime(rcp.deadline)] as [string, string]] : []),
      ],
    });
    // The opinions of the MT and the PHO are part of the plan; the rest of the thread stays in the RCP record.
    for (const m of rcp.messages.filter((msg) => msg.category !== 'rcp-message')) {
      blocks.push({
        kind: 'entry',
        title: `${label(COMMUNICATION_CATEGORIES, m.category)} — ${byRpps.get(m.fromRpps) ?? `RPPS ${m.fromRpps}`}, ${dateTime(m.date)}`,
        lines: [m.text],
      });
    }
  } else {
    blocks.push({ kind: 'paragraph', text: 'La RCP n’a pas encore eu lieu.' });
  }
  blocks.push(...medicationTable('Traitement analysé', ppp.medications));
  blocks.push(...reviewBlocks('Problèmes et recommandations', ppp.problems, ppp.recommendations, ppp.medications, ['MT', 'PHO'], 'Recommandation'));
  if (ppp.note) blocks.push({ kind: 'heading', text: 'Note' }, { kind: 'paragraph', text: ppp.note });
  return blocks;
}

// ---- CTM ----

const MOMENT_LABELS: Record<Ctm['moment'], string> = { admission: 'Admission', transfert: 'Transfert', sortie: 'Sortie' };
const CTM_MODE_LABELS: Record<Ctm['mode'], string> = {
  proactive: 'Proactive (BMO établi avant la prescription)',
  retroactive: 'Rétroactive (BMO établi après la prescription)',
};

function ctmBlocks(ctm: Ctm): PdfBlock[] {
  const { bmo, fct } = ctm;
  const validation = bmo.validation
    ? `validé par ${fullName(bmo.validation.pharmacist)}, pharmacien, le ${dateTime(bmo.validation.date)}`
    : 'non validé par un pharmacien';
  const blocks: PdfBlock[] = [
    { kind: 'heading', text: 'Conciliation des traitements médicamenteux' },
    { kind: 'fields', fields: [['Moment', MOMENT_LABELS[ctm.moment]], ['Mode', CTM_MODE_LABELS[ctm.mode]]] },
    { kind: 'heading', text: 'Bilan médicamenteux optimisé (BMO)' },
    {
      kind: 'fields',
      fields: [
        ['Établi par', `${fullName(bmo.author)} le ${dateTime(bmo.date)}`],
        ['Sources consultées', bmo.sourcesConsulted.map((s) => label(BMO_SOURCE_TYPES, s)).join(' ; ')],
        ['Validation', validation],
      ],
    },
    {
      kind: 'table',
      columns: [
        { header: 'Médicament', width: 0.3 },
        { header: 'Posologie', width: 0.25 },
        { header: 'Sources', width: 0.25 },
        { header: 'Remarques', width: 0.2 },
      ],
      rows: bmo.lines.map((l) => [
        l.medication.text,
        dosageText(l.dosage),
        l.sources.map((s) => label(BMO_SOURCE_TYPES, s)).join(' ; '),
        lineRemarks(l),
      ]),
    },
    { kind: 'heading', text: 'Fiche de conciliation des traitements (FCT)' },
  ];
  if (!fct) {
    blocks.push({ kind: 'paragraph', text: 'Le BMO n’a pas encore été comparé à la prescription en cours.' });
    return blocks;
  }
  const bmoLines = new Map(bmo.lines.map((l) => [l.id, l]));
  blocks.push(
    {
      kind: 'fields',
      fields: [
        ['Établie par', `${fullName(fct.author)} le ${dateTime(fct.date)}`],
        ['Statut', fct.status === 'final' ? 'Définitive' : 'Provisoire'],
      ],
    },
    {
      kind: 'table',
      columns: [
        { header: 'BMO', width: 0.22 },
        { header: 'Traitement actuel', width: 0.22 },
        { header: 'Statut', width: 0.12 },
        { header: 'Divergence', width: 0.18 },
        { header: 'Qualification', width: 0.26 },
      ],
      rows: fct.lines.map((l) => {
        const before = l.bmoLineId ? bmoLines.get(l.bmoLineId) : undefined;
        const qualification = [
          l.errorType ? `Erreur : ${label(FCT_ERROR_TYPES, l.errorType)}` : '',
          l.severity ? `Gravité : ${label(FCT_SEVERITIES, l.severity)}` : '',
          l.resolution ? `Résolution : ${label(FCT_RESOLUTIONS, l.resolution)}` : '',
          l.comment ?? '',
        ].filter(Boolean);
        return [
          before ? withDosage(before.medication.text, before.dosage) : '—',
          l.current ? withDosage(l.current.medication.text, l.current.dosage) : '—',
          label(FCT_LINE_STATUSES, l.status),
          label(CTM_DIVERGENCES, l.divergence),
          qualification.join('\n'),
        ];
      }),
    },
  );
  return blocks;
}

// ---- BPM ----

function bpmBlocks(bpm: Bpm): PdfBlock[] {
  const blocks: PdfBlock[] = [
    { kind: 'heading', text: 'Bilan partagé de médication' },
    {
      kind: 'fields',
      fields: [
        ['Pharmacie', `${bpm.pharmacy.name} (FINESS ${bpm.pharmacy.finess})`],
        ['Pharmacien', fullName(bpm.pharmacist)],
        ['Médecin traitant', fullName(bpm.gp)],
        ['Année du bilan', String(bpm.year)],
        ['Adhésion', dateTime(bpm.adhesionDate)],
      ],
    },
    {
      kind: 'table',
      columns: [
        { header: 'Étape', width: 0.35 },
        { header: 'Date', width: 0.25 },
        { header: 'Statut', width: 0.2 },
        { header: 'Modalité', width: 0.2 },
      ],
      rows: bpm.steps.map((s) => [
        label(BPM_STEPS, s.step),
        dateTime(s.date),
        STEP_STATUS_LABELS[s.status],
        s.remote ? 'À distance' : 'En présence',
      ]),
    },
    ...medicationTable('Traitements du patient', bpm.medications),
    ...reviewBlocks('Problèmes et propositions au médecin traitant', bpm.problems, bpm.proposals, bpm.medications, ['MT'], 'Proposition'),
    { kind: 'heading', text: 'Conclusions' },
    bpm.conclusions
      ? { kind: 'entry', title: `Conclusions du ${dateTime(bpm.conclusions.date)}`, lines: [bpm.conclusions.text] }
      : { kind: 'paragraph', text: 'Les conclusions ne sont pas encore rédigées.' },
  ];
  if (bpm.advice.length > 0) {
    blocks.push({ kind: 'heading', text: 'Conseils au patient' });
    for (const a of bpm.advice) blocks.push({ kind: 'entry', title: dateTime(a.date), lines: [a.text] });
  }
  return blocks;
}

const STEP_STATUS_LABELS: Record<Bpm['steps'][number]['status'], string> = {
  completed: 'Réalisée',
  planned: 'Prévue',
  cancelled: 'Annulée',
};

// ---- Shared by PPP and BPM: the medication list and the review ----

function medicationTable(title: string, lines: readonly MedicationLine[]): PdfBlock[] {
  if (lines.length === 0) return [{ kind: 'heading', text: title }, { kind: 'paragraph', text: 'Aucun médicament renseigné.' }];
  return [
    { kind: 'heading', text: title },
    {
      kind: 'table',
      columns: [
        { header: 'Médicament', width: 0.35 },
        { header: 'Posologie', width: 0.35 },
        { header: 'Remarques', width: 0.3 },
      ],
      rows: lines.map((l) => [l.medication.text, dosageText(l.dosage), lineRemarks(l)]),
    },
  ];
}

const SEVERITY_LABELS: Record<NonNullable<Problem['severity']>, string> = { high: 'élevée', moderate: 'modérée', low: 'faible' };
const ACTION_LABELS: Record<Extract<Recommendation, { kind: 'medication' }>['action'], string> = {
  add: 'Ajout',
  stop: 'Arrêt',
  substitute: 'Substitution',
  dose: 'Adaptation de la dose',
  route: 'Changement de voie',
  timing: 'Modification des horaires de prise',
};
const ACTOR_LABELS: Record<'MT' | 'PHO', string> = { MT: 'Médecin traitant', PHO: "Pharmacien d'officine" };

/** Each problem, then the recommendations that answer it with each actor's decision once known. */
function reviewBlocks(
  title: string,
  problems: readonly Problem[],
  recommendations: readonly Recommendation[],
  medications: readonly MedicationLine[],
  actors: readonly ('MT' | 'PHO')[],
  noun: 'Recommandation' | 'Proposition',
): PdfBlock[] {
  if (problems.length === 0) return [{ kind: 'heading', text: title }, { kind: 'paragraph', text: 'Aucun problème lié à la thérapeutique relevé.' }];
  const medicationText = new Map(medications.map((m) => [m.id, m.medication.text]));
  const blocks: PdfBlock[] = [{ kind: 'heading', text: title }];
  problems.forEach((pb, i) => {
    const severity = pb.severity ? ` (gravité ${SEVERITY_LABELS[pb.severity]})` : '';
    blocks.push({
      kind: 'entry',
      title: `Problème ${i + 1} — ${label(SFPC_PROBLEMS, pb.code)}${severity}`,
      lines: [
        pb.detail,
        ...(pb.medicationLineIds.length ? [`Médicaments concernés : ${pb.medicationLineIds.map((id) => medicationText.get(id) ?? id).join(' ; ')}`] : []),
        ...(pb.criterion ? [`Critère : ${pb.criterion}`] : []),
        `Intervention proposée : ${label(SFPC_INTERVENTIONS, pb.intervention)}`,
      ],
    });
    for (const r of recommendations.filter((rec) => rec.problemId === pb.id)) {
      const proposal = r.kind === 'medication' ? [`${ACTION_LABELS[r.action]} : ${withDosage(r.medication.text, r.dosage)}`] : [];
      const decisions = actors.map((actor) => {
        const d = r.decisions.find((dec) => dec.actor === actor);
        if (!d) return `${ACTOR_LABELS[actor]} : décision en attente`;
        return `${ACTOR_LABELS[actor]} : ${label(PPP_DECISIONS, d.decision)} le ${dateTime(d.date)}${d.reason ? ` — motif : ${d.reason}` : ''}`;
      });
      blocks.push({ kind: 'entry', title: `${noun} — ${r.text}`, lines: [...proposal, ...decisions] });
    }
  });
  return blocks;
}

// ---- Wording helpers ----

function label(list: readonly CodeDef[], code: string): string {
  return displayOf(list, code) ?? code;
}

function fullName(p: { family: string; given?: string }): string {
  return p.given ? `${p.given} ${p.family}` : p.family;
}

function dosageText(d: Dosage | undefined): string {
  return d?.text ?? '—';
}

function withDosage(text: string, d: Dosage | undefined): string {
  return d ? `${text} — ${d.text}` : text;
}

function lineRemarks(l: MedicationLine): string {
  const status: Record<MedicationLine['status'], string> = { active: '', 'not-taken': 'Non pris', 'on-hold': 'Suspendu', stopped: 'Arrêté' };
  return [l.selfMedication ? 'Automédication' : '', status[l.status], l.comment ?? ''].filter(Boolean).join(' ; ');
}

/**
 * Dates are printed as written, in the sender's own offset: formatting must not depend on the machine's time zone
 * (the PDF would differ from one server to another).
 */
function dateTime(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(iso);
  if (!m) return iso;
  const [, y, mo, d, h, mi] = m;
  return h ? `${d}/${mo}/${y} à ${h}:${mi}` : `${d}/${mo}/${y}`;
}

function partialDate(date: string): string {
  const [y, m, d] = date.split('-');
  return [d, m, y].filter(Boolean).join('/');
}

function birthPlace(insee: string): string {
  return insee.startsWith('99') ? `${insee} (né(e) à l’étranger)` : insee;
}

// ---- Layout ---------------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const FONT_FILES = {
  regular: require.resolve('@fontsource/dejavu-sans/files/dejavu-sans-latin-400-normal.woff'),
  bold: require.resolve('@fontsource/dejavu-sans/files/dejavu-sans-latin-700-normal.woff'),
};
/**
 * The fonts, parsed once per process and shared by every render: fontkit caches the tables and glyph metrics it has
 * decoded on the font object, and re-parsing them for each document made a render cost ~170 ms instead of ~35.
 * (pdfkit takes a fontkit font as a font source; each document still embeds its own subset.)
 */
type LoadedFont = ReturnType<typeof fontkit.create>;
let fontCache: { regular: LoadedFont; bold: LoadedFont } | undefined;
function fonts(): { regular: LoadedFont; bold: LoadedFont } {
  fontCache ??= { regular: fontkit.create(woffToSfnt(readFileSync(FONT_FILES.regular))), bold: fontkit.create(woffToSfnt(readFileSync(FONT_FILES.bold))) };
  return fontCache;
}

/**
 * WOFF 1.0 → plain TrueType, once per process. fontkit re-inflates a WOFF table (with a pure-JS inflate) every time it
 * reads a glyph from it, which made one render take seconds; an sfnt is read in place.
 */
function woffToSfnt(woff: Buffer): Buffer {
  if (woff.readUInt32BE(0) !== 0x774f4646) throw new Error('not a WOFF 1.0 font');
  const flavor = woff.readUInt32BE(4);
  const numTables = woff.readUInt16BE(12);
  const tables = Array.from({ length: numTables }, (_, i) => {
    const at = 44 + i * 20;
    const [tag, offset, compLength, origLength, checksum] = [0, 4, 8, 12, 16].map((o) => woff.readUInt32BE(at + o));
    const raw = woff.subarray(offset, offset + compLength);
    return { tag, checksum, data: compLength < origLength ? inflateSync(raw) : raw };
  });
  const pow2 = 2 ** Math.floor(Math.log2(numTables));
  const head = Buffer.alloc(12 + 16 * numTables);
  head.writeUInt32BE(flavor, 0);
  head.writeUInt16BE(numTables, 4);
  head.writeUInt16BE(pow2 * 16, 6);
  head.writeUInt16BE(Math.log2(pow2), 8);
  head.writeUInt16BE(numTables * 16 - pow2 * 16, 10);
  const parts: Buffer[] = [head];
  let offset = head.length;
  tables.forEach((t, i) => {
    head.writeUInt32BE(t.tag, 12 + 16 * i);
    head.writeUInt32BE(t.checksum, 16 + 16 * i);
    head.writeUInt32BE(offset, 20 + 16 * i);
    head.writeUInt32BE(t.data.length, 24 + 16 * i);
    const padded = Buffer.alloc((t.data.length + 3) & ~3);
    t.data.copy(padded);
    parts.push(padded);
    offset += padded.length;
  });
  return Buffer.concat(parts);
}

const MARGIN = 50;
const FOOTER_SIZE = 7.5;

type Doc = InstanceType<typeof PDFDocument>;

/**
 * pdfkit copies Title, Author and Subject into the XMP packet without escaping them; XML-special characters are
 * replaced by look-alikes so the packet stays well-formed and the Info dictionary stays equal to it (PDF/A).
 */
function xmpSafe(s: string): string {
  return s.replace(/&/g, '+').replace(/</g, '‹').replace(/>/g, '›');
}

/**
 * Render the document as PDF/A-2b. Determinism: every date pdfkit writes (Info, XMP) comes from the request's
 * effectiveTime, and pdfkit derives the trailer /ID from an MD5 of the Info dictionary, which therefore depends on
 * the input only; the Subject names the document id and version, so two documents never share an /ID.
 */
export async function renderPdf(req: DocumentRequest, header: DocumentHeader): Promise<Buffer> {
  const issued = new Date(header.effectiveTime);
  if (Number.isNaN(issued.getTime())) throw invalid(`effectiveTime: not a date "${header.effectiveTime}"`, 'effectiveTime');
  const { regular, bold } = fonts();
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN + 20, left: MARGIN, right: MARGIN },
    pdfVersion: '1.7',
    subset: 'PDF/A-2b',
    tagged: true,
    lang: 'fr-FR',
    displayTitle: true,
    bufferPages: true,
    // No default font: pdfkit would otherwise load Helvetica, a standard font that PDF/A forbids (not embedded).
    // DejaVu Sans is registered and selected before any text is drawn.
    font: '',
    info: {
      Title: xmpSafe(header.title),
      Author: xmpSafe(fullName(header.author)),
      Subject: xmpSafe(`${header.typeCode.display} — document ${header.ids.id}, version ${header.ids.version}`),
      Creator: 'Passerelle',
      Producer: 'Passerelle (PDFKit)',
      CreationDate: issued,
      ModDate: issued,
    },
  });
  // @types/pdfkit lists paths and buffers only; pdfkit also takes a fontkit font (PDFFontFactory.open).
  doc.registerFont('regular', regular as unknown as Buffer);
  doc.registerFont('bold', bold as unknown as Buffer);
  doc.font('regular');
  // PDF/A wants every Info date mirrored in XMP; pdfkit writes CreateDate itself, not ModifyDate.
  doc.appendXML(`
        <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
            <xmp:ModifyDate>${issued.toISOString().split('.')[0]}Z</xmp:ModifyDate>
        </rdf:Description>
        `);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const body = doc.struct('Document');
  doc.addStructure(body);
  doc.font('bold').fontSize(16);
  doc.text(fit(doc, header.title, textWidth(doc)), { structParent: body, structType: 'H1' });
  doc.moveDown(0.8);
  for (const block of pdfContent(req, header)) drawBlock(doc, body, block);
  body.end();
  drawFooters(doc, header);
  doc.end();
  return done;
}

function textWidth(doc: Doc): number {
  return doc.page.width - 2 * MARGIN;
}

/**
 * `text` with its over-long words cut into pieces `width` wide in the current font and size, so that pdfkit lays it
 * out in linear time (long-words.ts). Every string drawn with `text()` goes through it, after its font is selected.
 */
function fit(doc: Doc, text: string, width: number): string {
  return breakLongWords(text, width, (s) => doc.widthOfString(s));
}

function drawBlock(doc: Doc, parent: PDFKit.PDFStructureElement, block: PdfBlock): void {
  const width = textWidth(doc);
  switch (block.kind) {
    case 'heading':
      // Keep a heading with what follows it (a problem with its recommendation is kept together, ~120 pt).
      if (doc.y + 140 > doc.page.height - doc.page.margins.bottom) doc.addPage();
      doc.moveDown(0.6);
      doc.font('bold').fontSize(12).fillColor('#1f3a5f');
      doc.text(fit(doc, block.text, width), MARGIN, doc.y, { structParent: parent, structType: 'H2' });
      doc.fillColor('black').moveDown(0.3);
      return;
    case 'fields':
      for (const [name, value] of block.fields) {
        const p = doc.struct('P');
        parent.add(p);
        doc.font('bold').fontSize(9.5);
        doc.text(fit(doc, `${name} : `, width), MARGIN, doc.y, { continued: true, structParent: p, structType: 'Span' });
        doc.font('regular');
        doc.text(fit(doc, value, width), { structParent: p, structType: 'Span' });
        p.end();
      }
      return;
    case 'paragraph':
      doc.font('regular').fontSize(9.5);
      doc.text(fit(doc, block.text, width), MARGIN, doc.y, { structParent: parent, structType: 'P' });
      return;
    case 'entry': {
      doc.moveDown(0.3);
      // An entry is short: start it on the next page rather than split it, unless it is longer than a page.
      const title = fit(doc.font('bold').fontSize(9.5), block.title, width);
      doc.font('regular').fontSize(9.5);
      const lines = block.lines.map((line) => fit(doc, line, width - 12));
      const height = [title, ...lines].reduce((h, t) => h + doc.heightOfString(t, { width: width - 12 }), 0);
      const room = doc.page.height - doc.page.margins.bottom - doc.y;
      if (height > room && height < doc.page.height - doc.page.margins.top - doc.page.margins.bottom) doc.addPage();
      doc.font('bold').fontSize(9.5).text(title, MARGIN, doc.y, { structParent: parent, structType: 'P' });
      for (const line of lines) {
        doc.font('regular').fontSize(9.5).text(line, MARGIN + 12, doc.y, { width: width - 12, structParent: parent, structType: 'P' });
      }
      return;
    }
    case 'table': {
      doc.moveDown(0.3);
      // A cell's text is laid out within its padding (3 pt a side): headers in bold, the rest in regular, all at 8 pt.
      const cellWidths = block.columns.map((c) => c.width * width - 6);
      doc.font('bold').fontSize(8);
      const headers = block.columns.map((c, i) => fit(doc, c.header, cellWidths[i]));
      doc.font('regular');
      const rows = block.rows.map((r) => r.map((cell, i) => fit(doc, cell, cellWidths[i])));
      const options: PDFKit.Mixins.TableOptionsWithData & { structParent: PDFKit.PDFStructureElement } = {
        structParent: parent,
        position: { x: MARGIN, y: doc.y },
        maxWidth: width,
        columnStyles: block.columns.map((c) => c.width * width),
        defaultStyle: { border: 0.5, borderColor: '#9aa5b1', padding: [3, 3, 3, 3] },
        data: [
          headers.map((text) => ({ text, type: 'TH' as const, font: { src: 'bold' }, backgroundColor: '#e8edf3' })),
          ...rows,
        ],
      };
      doc.table(options);
      doc.x = MARGIN;
      doc.moveDown(0.5);
      return;
    }
  }
}

/** On every page, as an artifact (not content): who the document is about, its title, and the page number. */
function drawFooters(doc: Doc, header: DocumentHeader): void {
  const { start, count } = doc.bufferedPageRange();
  const p = header.patient;
  const width = textWidth(doc);
  // One line whatever the names' and title's length (both are printed in full above): the title keeps its width unless
  // it would leave the names less than 100 pt, the names take what is left, and the page number is always printed.
  doc.font('regular').fontSize(FOOTER_SIZE);
  const born = `, né(e) le ${partialDate(p.birthDate)}`;
  const name = `${p.birthName} ${p.firstBirthGivenName}`;
  const room = width - doc.widthOfString(`${born} —  — page ${count}/${count}`) - 1;
  const title = clip(doc, header.title, room - Math.min(doc.widthOfString(name.slice(0, 200)), 100));
  const who = `${clip(doc, name, room - doc.widthOfString(title))}${born}`;
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i);
    const bottom = doc.page.margins.bottom;
    // Writing below the bottom margin would make pdfkit open a new page.
    doc.page.margins.bottom = 0;
    doc.markContent('Artifact', { type: 'Pagination' });
    doc.font('regular').fontSize(FOOTER_SIZE).fillColor('#555555');
    doc.text(`${who} — ${title} — page ${i + 1}/${count}`, MARGIN, doc.page.height - MARGIN, {
      width,
      align: 'center',
      lineBreak: false,
    });
    doc.endMarkedContent();
    doc.fillColor('black');
    doc.page.margins.bottom = bottom;
  }
}

/** `text`, or as much of its beginning as fits `width` in the current font and size followed by an ellipsis. */
function clip(doc: Doc, text: string, width: number): string {
  if (text.length <= 200 && doc.widthOfString(text) <= width) return text;
  const chars = Array.from(text.slice(0, 400)).slice(0, 200);
  let [fits, over] = [0, chars.length + 1]; // the longest prefix that fits, by bisection
  while (over - fits > 1) {
    const mid = (fits + over) >> 1;
    if (doc.widthOfString(`${chars.slice(0, mid).join('')}…`) <= width) fits = mid;
    else over = mid;
  }
  return `${chars.slice(0, fits).join('').trimEnd()}…`;
}
