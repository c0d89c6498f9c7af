// The hand-written TypeScript mapping of the example vendor format mappings/formats/officine-xml-bpm (fictitious
// vendor "Officine Exemple"): the same rules as its transform.jsonata, written as code. Baseline of
// bench/mapping.bench.ts only; it must produce exactly what the JSONata does (the bench checks it).
import type { BpmInput } from '../../src/domain/bpm.js';

type Node = Record<string, unknown>;
type Codemap = (map: string, code: string) => string | undefined;

const STEPS: Record<string, string> = { ADH: 'adhesion', REC: 'recueil', ANA: 'analyse', CON: 'conseil', SUI: 'suivi-observance' };
const STEP_STATUS: Record<string, string> = { R: 'completed', P: 'planned', A: 'cancelled' };
const LINE_STATUS: Record<string, string> = { EN_COURS: 'active', NON_PRIS: 'not-taken', SUSPENDU: 'on-hold', ARRET: 'stopped' };
const SEVERITY: Record<string, string> = { '3': 'high', '2': 'moderate', '1': 'low' };
const ACTIONS: Record<string, string> = { AJOUT: 'add', ARRET: 'stop', SUBST: 'substitute', DOSE: 'dose', VOIE: 'route', MOMENT: 'timing' };
const DECISIONS: Record<string, string> = { ACCEPTEE: 'retenu', REFUSEE: 'non-retenu', MODIFIEE: 'retenu-modifie' };

const obj = (v: unknown): Node => (v && typeof v === 'object' ? (v as Node) : {});
const arr = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** Drop undefined members, as JSONata does. */
function clean<T extends Node>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
const isoDate = (d: string): string => {
  if (!d.includes('/')) return d;
  const [day, month, year] = d.split('/');
  return `${year}-${month}-${day}`;
};

function practitioner(p: Node, profession: string) {
  return clean({ rpps: str(p['@rpps']), family: str(p['@nom']), given: str(p['@prenom']), profession, email: str(p['@mssante']) });
}
function medication(prod: Node) {
  return { codes: arr(prod.code).map((c) => clean({ kind: str(c['@type']), code: str(c['#text']), display: str(c['@libelle']) })), text: str(prod['@libelle']) };
}
function dosage(pos: unknown, codemap: Codemap) {
  if (pos === undefined) return undefined;
  if (typeof pos === 'string') return { text: pos };
  const p = obj(pos);
  return clean({
    text: str(p['#text']),
    dose: p['@dose'] !== undefined ? clean({ value: Number(p['@dose']), unit: str(p['@unite']) }) : undefined,
    frequencyPerDay: p['@priseJour'] !== undefined ? Number(p['@priseJour']) : undefined,
    asNeeded: p['@siBesoin'] === 'O' ? true : undefined,
    route: p['@voie'] !== undefined ? codemap('lgo-routes', str(p['@voie']) as string) : undefined,
  });
}

export function mapOfficineXmlBpm(parsed: unknown, codemapDisplay: Codemap): BpmInput {
  const x = obj(obj(parsed).exportBpm);
  const b = obj(x.bilan);
  const officine = obj(x.officine);
  const p = obj(x.patient);
  const ins = p.ins === undefined ? undefined : obj(p.ins);
  const steps = arr(obj(b.etapes).etape);
  const conclusions = b.conclusions === undefined ? undefined : obj(b.conclusions);
  return clean({
    id: str(b['@numero']),
    pharmacy: clean({ finess: str(officine['@finess']), name: str(officine['@raisonSociale']), kind: 'officine' }),
    pharmacist: practitioner(obj(x.pharmacien), 'pharmacien'),
    gp: practitioner(obj(x.medecinTraitant), 'medecin'),
    patient: clean({
      sourceId: { system: `urn:oid:1.2.250.1.999.2.${str(officine['@finess'])}`, value: str(p['@idLocal']) },
      ins: ins ? { matricule: str(ins['@matricule']), oid: `urn:oid:${str(ins['@oid'])}` } : undefined,
      status: str(p.statutIdentite),
      birthName: str(p.nomNaissance),
      firstBirthGivenName: str(p.premierPrenom),
      usedName: str(p.nomUtilise),
      birthDate: p.dateNaissance === undefined ? undefined : isoDate(str(p.dateNaissance) as string),
      sex: str(p.sexe),
      birthPlaceInsee: str(p.communeNaissance),
    }),
    year: Number(b['@annee']),
    adhesionDate: str(steps.find((s) => s['@type'] === 'ADH')?.['@date']),
    steps: steps.map((s) =>
      clean({
        step: STEPS[s['@type'] as string],
        date: str(s['@date']),
        status: s['@etat'] !== undefined ? STEP_STATUS[s['@etat'] as string] : 'completed',
        remote: s['@distance'] === 'O',
        billingCode: str(s['@acte']),
      }),
    ),
    medications: arr(obj(b.lignes).ligne).map((l) =>
      clean({
        id: str(l['@num']),
        medication: medication(obj(l.produit)),
        dosage: dosage(l.posologie, codemapDisplay),
        status: l['@etat'] !== undefined ? LINE_STATUS[l['@etat'] as string] : 'active',
        selfMedication: l['@automedication'] === 'O',
        comment: str(l.commentaire),
      }),
    ),
    problems: arr(obj(b.problemes).probleme).map((q) =>
      clean({
        id: str(q['@id']),
        code: str(q['@codeSfpc']),
        severity: SEVERITY[q['@gravite'] as string],
        detail: str(q.detail),
        medicationLineIds: arr(q.ligneRef) as unknown as string[],
        intervention: str(q['@intervention']),
      }),
    ),
    proposals: arr(obj(b.propositions).proposition).map((q) =>
      clean({
        kind: 'medication',
        id: str(q['@id']),
        problemId: str(q['@probleme']),
        text: str(q.texte),
        action: ACTIONS[q['@action'] as string],
        medication: medication(obj(q.produit)),
        dosage: dosage(q.posologie, codemapDisplay),
        medicationLineId: str(q['@ligne']),
        decisions: arr(q.reponse).map((r) =>
          clean({ actor: 'MT', decision: DECISIONS[r['@decision'] as string], date: str(r['@date']), reason: str(r['@motif']) }),
        ),
      }),
    ),
    conclusions: conclusions ? { date: str(conclusions['@date']), text: str(conclusions['#text']) } : undefined,
    advice: arr(obj(b.conseils).conseil).map((c) => ({ date: str(c['@date']), text: str(c['#text']) })),
  }) as unknown as BpmInput;
}
