import { beforeAll, describe, expect, it } from 'vitest';
import { documentHeader } from '../../src/documents/header.js';
import type { DocumentRequest } from '../../src/documents/model.js';
import { pdfContent, renderPdf, type PdfBlock } from '../../src/documents/pdf.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import type { DocumentKind } from '../../src/domain/parse.js';
import { fixtureRequest, IDS } from './requests.js';

const settings = loadDocumentSettings();

async function render(req: DocumentRequest): Promise<Buffer> {
  return renderPdf(req, documentHeader(req, settings));
}

function content(kind: DocumentKind, name: string, overrides: Partial<DocumentRequest> = {}): PdfBlock[] {
  const req = fixtureRequest(kind, name, overrides);
  return pdfContent(req, documentHeader(req, settings));
}

/** The XMP packet (uncompressed, UTF-8) of a PDF. */
function xmp(pdf: Buffer): string {
  const start = pdf.indexOf('<x:xmpmeta');
  const end = pdf.indexOf('</x:xmpmeta>');
  if (start < 0 || end < 0) throw new Error('no XMP packet');
  return pdf.subarray(start, end).toString('utf8');
}

function xmpTitle(pdf: Buffer): string {
  const m = /<dc:title>\s*<rdf:Alt>\s*<rdf:li xml:lang="x-default">([^<]*)<\/rdf:li>/.exec(xmp(pdf));
  if (!m) throw new Error('no dc:title');
  return m[1];
}

function trailerId(pdf: Buffer): string {
  const m = /\/ID \[<([0-9a-f]+)> <[0-9a-f]+>\]/.exec(pdf.subarray(pdf.lastIndexOf('trailer')).toString('latin1'));
  if (!m) throw new Error('no trailer /ID');
  return m[1];
}

/** Every string the content says, flattened (labels, values, table cells). */
function texts(blocks: readonly PdfBlock[]): string[] {
  return blocks.flatMap((b) => {
    switch (b.kind) {
      case 'heading':
      case 'paragraph':
        return [b.text];
      case 'fields':
        return b.fields.map(([k, v]) => `${k} : ${v}`);
      case 'entry':
        return [b.title, ...b.lines];
      case 'table':
        return [...b.columns.map((c) => c.header), ...b.rows.flat()];
    }
  });
}

function field(blocks: readonly PdfBlock[], name: string): string | undefined {
  for (const b of blocks) if (b.kind === 'fields') for (const [k, v] of b.fields) if (k === name) return v;
  return undefined;
}

describe('renderPdf: a PDF/A-2b file', () => {
  let pdf: Buffer;
  beforeAll(async () => {
    pdf = await render(fixtureRequest('ppp', 'hospital-sync-rcp'));
  });

  it('is a PDF 1.7 file', () => {
    expect(pdf.subarray(0, 8).toString('latin1')).toBe('%PDF-1.7');
    expect(pdf.subarray(-6).toString('latin1')).toBe('%%EOF\n');
  });

  it('identifies itself as PDF/A-2b in its XMP metadata, with an sRGB output intent', () => {
    expect(xmp(pdf)).toContain('<pdfaid:part>2</pdfaid:part>');
    expect(xmp(pdf)).toContain('<pdfaid:conformance>B</pdfaid:conformance>');
    expect(pdf.includes('/S /GTS_PDFA1')).toBe(true);
    expect(pdf.includes('/DestOutputProfile')).toBe(true);
  });

  it('embeds DejaVu Sans regular and bold, and no other font', () => {
    const latin1 = pdf.toString('latin1');
    const baseFonts = new Set([...latin1.matchAll(/\/BaseFont \/([A-Z]{6})\+([\w-]+)/g)].map((m) => m[2]));
    expect([...baseFonts].sort()).toEqual(['DejaVuSans', 'DejaVuSans-Bold']);
    expect(latin1.match(/\/FontFile2 /g)).toHaveLength(2);
    expect(latin1).not.toMatch(/\/Helvetica|\/Times|\/Courier/);
  });

  it('is tagged, in French', () => {
    const latin1 = pdf.toString('latin1');
    expect(latin1).toContain('/Lang (fr-FR)');
    expect(latin1).toContain('/StructTreeRoot');
    expect(latin1).toMatch(/\/Marked true/);
  });

  it('dates itself from the request, not from the clock', () => {
    expect(xmp(pdf)).toContain('<xmp:CreateDate>2025-05-15T06:30:00Z</xmp:CreateDate>');
    expect(xmp(pdf)).toContain('<xmp:ModifyDate>2025-05-15T06:30:00Z</xmp:ModifyDate>');
    // Info /CreationDate and /ModDate (pdfkit writes each Info value as its own object).
    expect(pdf.toString('latin1').match(/\(D:20250515063000Z\)/g)).toHaveLength(2);
  });
});

describe('renderPdf: title', () => {
  it('is the header title, which depends on the stay type', async () => {
    const names = ['hospital-sync-rcp', 'hdj-partial-birthdate', 'consultation-born-abroad', 'town-async-rcp'];
    const titles = await Promise.all(names.map(async (n) => xmpTitle(await render(fixtureRequest('ppp', n)))));
    expect(titles).toEqual([
      "Plan pharmaceutique personnalisé — sortie d'hospitalisation",
      'Plan pharmaceutique personnalisé — hôpital de jour',
      'Plan pharmaceutique personnalisé — consultation',
      'Plan pharmaceutique personnalisé — parcours ville',
    ]);
    expect(titles[2]).not.toMatch(/ordonnance de sortie/i);
  });

  it('keeps the XMP packet well-formed when a title holds XML markup characters', async () => {
    const req = fixtureRequest('ppp', 'hospital-sync-rcp');
    const header = { ...documentHeader(req, settings), title: 'PPP <sortie> & suivi' };
    expect(xmpTitle(await renderPdf(req, header))).toBe('PPP ‹sortie› + suivi');
  });
});

describe('renderPdf: deterministic', () => {
  it('renders the same bytes twice', async () => {
    const req = fixtureRequest('ctm', 'admission-divergences');
    const [a, b] = [await render(req), await render(req)];
    expect(a.equals(b)).toBe(true);
  });

  it('renders the same bytes whatever the machine time zone', async () => {
    const req = fixtureRequest('bpm', 'self-medication-remote');
    const before = process.env.TZ;
    try {
      process.env.TZ = 'Europe/Paris';
      const paris = await render(req);
      process.env.TZ = 'Pacific/Kiritimati';
      const kiritimati = await render(req);
      expect(paris.equals(kiritimati)).toBe(true);
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it('gives two versions of a document different file identifiers', async () => {
    const v1 = await render(fixtureRequest('ppp', 'hdj-partial-birthdate'));
    const v2 = await render(fixtureRequest('ppp', 'hdj-partial-birthdate', { ids: { ...IDS, id: '1.2.250.1.999.1.1.3', version: 2, replaces: IDS.id } }));
    expect(trailerId(v1)).toMatch(/^[0-9a-f]{32}$/);
    expect(trailerId(v1)).not.toBe(trailerId(v2));
  });
});

describe('pdfContent: PPP', () => {
  it('prints the patient, with the INS only for a qualified identity', () => {
    const qualified = content('ppp', 'hospital-sync-rcp');
    expect(field(qualified, 'Nom de naissance')).toBe('FALCONE');
    expect(field(qualified, 'Prénom(s) de naissance')).toBe('Mateo Ange Fortunato');
    expect(field(qualified, 'Date de naissance')).toBe('02/11/1938');
    expect(field(qualified, 'INS')).toBe('138112A00405796 (NIR de test)');
    const validated = content('ppp', 'town-async-rcp');
    expect(field(validated, 'INS')).toBeUndefined();
    expect(texts(validated).join('\n')).not.toContain('247051411803232');
    expect(field(content('ppp', 'hdj-partial-birthdate'), 'Date de naissance')).toBe('05/1938');
  });

  it('prints the team, and the RCP date and mode', () => {
    const sync = content('ppp', 'hospital-sync-rcp');
    expect(field(sync, 'Médecin traitant (MT)')).toBe('Pierre BENASSIS');
    expect(field(sync, 'Mode')).toBe('RCP synchrone');
    expect(field(sync, 'Date')).toBe('14/05/2025 à 12:30');
    expect(field(content('ppp', 'town-async-rcp'), 'Mode')).toBe('RCP asynchrone');
  });

  it('prints each problem with its recommendations and the MT/PHO decisions once known', () => {
    const all = texts(content('ppp', 'hospital-sync-rcp'));
    expect(all).toContain('Problème 2 — Surdosage (gravité modérée)');
    expect(all).toContain("Recommandation — Réduire la metformine à 500 mg matin et soir, contrôle de l'HbA1c à 3 mois.");
    expect(all).toContain(
      'Médecin traitant : Non retenu le 16/05/2025 à 19:05 — motif : HbA1c à 8,1 %, je préfère attendre le contrôle de la fonction rénale',
    );
    expect(all).toContain("Pharmacien d'officine : Retenu le 16/05/2025 à 09:12");
    expect(all).toContain("Pharmacien d'officine : décision en attente");
  });
});

describe('pdfContent: CTM', () => {
  it('prints the BMO lines with their sources and the validation', () => {
    const blocks = content('ctm', 'admission-divergences');
    expect(field(blocks, 'Validation')).toBe('validé par Clara DESROCHES, pharmacien, le 14/03/2025 à 18:05');
    const bmo = blocks.find((b) => b.kind === 'table' && b.columns[0].header === 'Médicament');
    expect(bmo?.kind === 'table' && bmo.rows[1]).toEqual([
      'NUROFEN 400 mg',
      '1 comprimé 2 à 3 fois par jour',
      'Entretien avec les proches ; Dossier Pharmaceutique',
      'Automédication ; Rapporté par la fille de la patiente',
    ]);
    expect(field(content('ctm', 'admission-unvalidated-bmo'), 'Validation')).toBe('non validé par un pharmacien');
  });

  it('prints the reconciliation table: BMO against current, status and divergence', () => {
    const fct = content('ctm', 'admission-divergences').find((b) => b.kind === 'table' && b.columns[0].header === 'BMO');
    if (fct?.kind !== 'table') throw new Error('no FCT table');
    expect(fct.columns.map((c) => c.header)).toEqual(['BMO', 'Traitement actuel', 'Statut', 'Divergence', 'Qualification']);
    expect(fct.rows[5]).toEqual([
      'XANAX 0,25 mg — 1 comprimé matin, midi et soir',
      'ALPRAZOLAM 0,25 mg cp — 1 comprimé le soir',
      'Modifié',
      'Divergence non intentionnelle (erreur médicamenteuse)',
      'Erreur : Erreur de posologie\nGravité : Significative\nRésolution : Dose corrigée\nPosologie retranscrite 1/j au lieu de 3/j : risque de sevrage, corrigée le jour même',
    ]);
    expect(fct.rows[6].slice(0, 3)).toEqual(['—', 'PARACETAMOL 1 g cp — 1 g toutes les 8 heures si EVA > 3', 'Initié']);
  });
});

describe('pdfContent: BPM', () => {
  const all = texts(content('bpm', 'self-medication-remote'));

  it('prints the medications, self-medication included', () => {
    expect(all).toContain('Millepertuis, gélules (complément alimentaire acheté en magasin bio)');
    expect(all).toContain('Automédication ; Environ 4 soirs par semaine');
  });

  it('prints the problems and the proposals with the MT’s answers', () => {
    expect(all).toContain('Problème 1 — Interaction : à prendre en compte (gravité modérée)');
    expect(all).toContain("Proposition — Arrêter le millepertuis ; réévaluer l'humeur avec le médecin traitant.");
    expect(all).toContain('Médecin traitant : Non retenu le 14/02/2025 à 12:33 — motif : Je verrai le patient en consultation avec son carnet glycémique');
  });

  it('prints the conclusions and the advice', () => {
    expect(all).toContain('Conclusions du 10/02/2025 à 16:30');
    expect(all).toContain('Pilulier hebdomadaire remis, à préparer le dimanche avec votre fille.');
    expect(all).toContain('Entretien conseil');
    expect(all).toContain('À distance');
  });
});
