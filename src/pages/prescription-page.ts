// The PHO's prescription request at D45/D90 (issue 18 point 6, docs/pathway.md "Follow-up at D45 and D90"), reached
// through its secure link (purpose `prescription`): the patient, the window, the PPP's recommendations, and three ways
// to answer — the current prescription as a PDF, its lines typed in a small form, or "pas de changement". Every form
// is multipart (the only file field is `ordonnance`, 10 MB at most, really a PDF) and carries a one-time form token
// bound to the link: SHA-256 of the link's token, the window and the number of answers already given, so that a form
// sent once no longer matches (a replay is refused, 409) and nobody without the link can forge it. Bad input is a 4xx
// page with the message next to the field, and nothing is stored.
import { bornWord } from '../domain/identity.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { MAX_DOSAGE, MAX_LABEL, MAX_PRESCRIPTION_LINES, prescriptionCodeKind, type PrescriptionLine } from '../domain/pathway/followup.js';
import type { Ppp } from '../domain/ppp.js';
import type { Recommendation } from '../domain/review.js';
import { currentWindow, recordPrescriptionAnswer, WINDOW_LABELS, type PrescriptionAnswer } from '../services/pathway/followup.js';
import { LINK_PATH } from '../services/pathway/links.js';
import type { FollowUpWindow, PathwayCase, PrescriptionUpload } from '../store/pathway-repository.js';
import { formText } from './form-text.js';
import { html, type SafeHtml } from './html.js';
import { frenchDate, frenchInstant } from './labels.js';
import { sendPage, sendProblem } from './layout.js';
import type { LinkPageContext, LinkPageHandler } from './link-pages.js';
import { linkNotFound } from './link-pages.js';

/** The largest PDF accepted. */
export const MAX_PDF_BYTES = 10 * 1024 * 1024;
/** The largest request body: the PDF and the multipart envelope with the small fields. */
const MAX_BODY = MAX_PDF_BYTES + 64 * 1024;
/** Rows shown empty in the structured form; "Ajouter des lignes" adds as many, up to the bound. */
const ROWS_STEP = 5;
const RECEIVED_STEP = 'recu';

const ACTION_LABELS: Record<string, string> = {
  stop: 'Arrêt',
  add: 'Ajout',
  substitute: 'Substitution',
  dose: 'Modification de dose',
  route: 'Changement de voie',
  timing: 'Changement d’horaire',
};
const KIND_LABELS: Record<string, string> = { pdf: 'Ordonnance en PDF', lines: 'Lignes de prescription saisies', 'no-change': 'Pas de changement' };

/** The one-time form token: bound to the link (its token), the window and the answers already given. */
export function prescriptionFormToken(linkToken: string, window: FollowUpWindow, answers: number): string {
  return createHash('sha256').update(`passerelle-prescription-form\u0000${linkToken}\u0000${window}\u0000${answers}`).digest('base64url');
}

function tokenEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface LineInput {
  label: string;
  code: string;
  dosage: string;
}

interface FormState {
  /** Field id → message shown next to it. */
  errors: Map<string, string>;
  /** Form-level message (which form was refused). */
  alert?: string;
  lines: LineInput[];
  rows: number;
}

const emptyState = (): FormState => ({ errors: new Map(), lines: [], rows: ROWS_STEP });

function patientOf(ppp: Ppp): { name: string; birth: string; born: string } {
  const p = ppp.patient;
  const born = bornWord(p.sex);
  return { name: `${p.usedGivenName ?? p.firstBirthGivenName} ${p.usedName ?? p.birthName}${p.usedName && p.usedName !== p.birthName ? ` (${born} ${p.birthName})` : ''}`, birth: p.birthDate, born };
}

function ageOn(birthDate: string, now: Date): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) return undefined;
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  let age = now.getUTCFullYear() - y;
  if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age--;
  return age;
}

function recommendationItem(r: Recommendation): SafeHtml {
  if (r.kind === 'service') return html`<li><p class="reco-titre"><span class="etat">Action non médicamenteuse</span></p><p>${r.text}</p></li>`;
  return html`<li><p class="reco-titre"><span class="etat">${ACTION_LABELS[r.action] ?? r.action}</span> <strong>${r.medication.text}</strong>${r.dosage ? html` — ${r.dosage.text}` : ''}</p><p>${r.text}</p></li>`;
}

function fieldError(errors: Map<string, string>, id: string): SafeHtml | '' {
  const e = errors.get(id);
  return e ? html`<p class="erreur-champ" id="${id}-erreur">${e}</p>` : '';
}

const describedBy = (errors: Map<string, string>, id: string, help?: string): SafeHtml => {
  const ids = [help, errors.has(id) ? `${id}-erreur` : undefined].filter(Boolean).join(' ');
  return ids ? html` aria-describedby="${ids}"${errors.has(id) ? html` aria-invalid="true"` : ''}` : html``;
};

function lineRow(i: number, l: LineInput | undefined, errors: Map<string, string>): SafeHtml {
  const n = i + 1;
  return html`<fieldset class="ligne">
<legend>Ligne ${n}</legend>
<div class="ligne-champs">
<div><label for="medicament-${n}">Médicament</label>
<input type="text" id="medicament-${n}" name="medicament-${n}" maxlength="${MAX_LABEL}" value="${l?.label ?? ''}" autocomplete="off"${describedBy(errors, `medicament-${n}`)}>${fieldError(errors, `medicament-${n}`)}</div>
<div><label for="code-${n}">Code CIS/CIP13</label>
<input type="text" id="code-${n}" name="code-${n}" inputmode="numeric" maxlength="13" value="${l?.code ?? ''}" autocomplete="off"${describedBy(errors, `code-${n}`)}>${fieldError(errors, `code-${n}`)}</div>
<div><label for="posologie-${n}">Posologie</label>
<input type="text" id="posologie-${n}" name="posologie-${n}" maxlength="${MAX_DOSAGE}" value="${l?.dosage ?? ''}" autocomplete="off"${describedBy(errors, `posologie-${n}`)}>${fieldError(errors, `posologie-${n}`)}</div>
</div>
</fieldset>`;
}

interface View {
  c: PathwayCase;
  ppp: Ppp;
  window: FollowUpWindow;
  formToken: string;
  answers: PrescriptionUpload[];
  ctx: LinkPageContext;
}

function page(v: View, state: FormState): SafeHtml {
  const { ppp, window, ctx } = v;
  const patient = patientOf(ppp);
  const age = ageOn(patient.birth, ctx.now);
  const label = WINDOW_LABELS[window];
  const hidden = (answer: string) => html`<input type="hidden" name="_csrf" value="${v.formToken}"><input type="hidden" name="reponse" value="${answer}">`;
  const rows = Math.min(MAX_PRESCRIPTION_LINES, Math.max(state.rows, state.lines.length));
  const e = state.errors;
  return html`<h1>Suivi à ${label} : ordonnance en cours</h1>
${state.alert ? html`<div class="alerte" role="alert" id="erreurs"><p>${state.alert}</p></div>` : ''}
<p>L’équipe qui a rédigé le plan pharmaceutique personnalisé (PPP) de votre patient vous demande son ordonnance en cours, pour savoir quelles recommandations ont été mises en œuvre.</p>
<dl class="fiche">
<dt>Patient</dt><dd>${patient.name}</dd>
<dt>${patient.born.charAt(0).toUpperCase()}${patient.born.slice(1)} le</dt><dd>${frenchDate(patient.birth)}${age !== undefined ? ` (${age} ans)` : ''}</dd>
<dt>Établissement</dt><dd>${ppp.establishment.name ?? ppp.establishment.finess}</dd>
<dt>PPP rédigé par</dt><dd>${[ppp.author.given, ppp.author.family].filter(Boolean).join(' ')}, le ${frenchInstant(ppp.created)}</dd>
${v.c.sentAt ? html`<dt>Envoyé le</dt><dd>${frenchInstant(v.c.sentAt)}</dd>` : ''}
<dt>Suivi</dt><dd>${label}</dd>
</dl>
<h2>Recommandations du PPP</h2>
${ppp.recommendations.length ? html`<ol class="recos">${ppp.recommendations.map(recommendationItem)}</ol>` : html`<p>Ce PPP ne contient pas de recommandation.</p>`}
${v.answers.length ? html`<p class="succes" role="status">Vous avez déjà répondu pour ce suivi (${v.answers.map((a) => `${KIND_LABELS[a.kind] ?? a.kind} le ${frenchInstant(a.received)}`).join(' ; ')}). Vous pouvez compléter votre réponse.</p>` : ''}
<h2>Votre réponse</h2>
<p>Choisissez l’une des trois façons de répondre.</p>

<form method="post" action="${ctx.path}" enctype="multipart/form-data" class="reponse" id="form-pdf">
${hidden('pdf')}
<h3>1. Déposer l’ordonnance (PDF)</h3>
<label for="ordonnance">Ordonnance en cours, au format PDF</label>
<p class="aide" id="ordonnance-aide">Un seul fichier PDF, 10 Mo au plus.</p>
<input type="file" id="ordonnance" name="ordonnance" accept="application/pdf,.pdf" required${describedBy(e, 'ordonnance', 'ordonnance-aide')}>
${fieldError(e, 'ordonnance')}
<p><button type="submit">Envoyer l’ordonnance</button></p>
</form>

<form method="post" action="${ctx.path}" enctype="multipart/form-data" class="reponse" id="form-lignes">
${hidden('lignes')}
<h3>2. Saisir les lignes de l’ordonnance</h3>
<p class="aide">Une ligne par médicament (${MAX_PRESCRIPTION_LINES} au plus) ; les lignes laissées vides sont ignorées. Le code CIS (8 chiffres) ou CIP13 (13 chiffres) est facultatif.</p>
${fieldError(e, 'lignes')}
${Array.from({ length: rows }, (_, i) => lineRow(i, state.lines[i], e))}
<input type="hidden" name="lignes-affichees" value="${rows}">
<p class="boutons"><button type="submit">Envoyer les lignes</button>${rows < MAX_PRESCRIPTION_LINES ? html` <button type="submit" name="plus" value="1" class="secondaire" formnovalidate>Ajouter des lignes</button>` : ''}</p>
<p class="aide">« Envoyer les lignes » est le bouton par défaut (touche Entrée) ; « Ajouter des lignes » affiche ${ROWS_STEP} lignes de plus sans rien envoyer.</p>
</form>

<form method="post" action="${ctx.path}" enctype="multipart/form-data" class="reponse" id="form-aucun">
${hidden('aucun-changement')}
<h3>3. Pas de changement</h3>
<p>Le traitement délivré n’a pas changé depuis la dernière ordonnance que vous connaissiez.</p>
<p><button type="submit">Déclarer : pas de changement</button></p>
</form>`;
}

// ---- the request body ----

type BodyResult = { ok: true; form: FormData } | { ok: false; status: number; message: string };

async function readBody(req: Request): Promise<BodyResult> {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^multipart\/form-data\s*;\s*boundary=/i.test(type)) return { ok: false, status: 415, message: 'Ce formulaire s’envoie en multipart/form-data.' };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY) return { ok: false, status: 413, message: 'Le fichier dépasse 10 Mo.' };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { ok: false, status: 413, message: 'Le fichier dépasse 10 Mo.' };
    chunks.push(chunk);
  }
  try {
    // The platform's own multipart parser (undici, Node ≥ 18) over the bounded body.
    const form = await new globalThis.Request('http://localhost/', { method: 'POST', headers: { 'content-type': type }, body: Buffer.concat(chunks) }).formData();
    return { ok: true, form };
  } catch {
    return { ok: false, status: 400, message: 'Le formulaire envoyé n’a pas pu être lu.' };
  }
}

const LINE_FIELD = /^(medicament|code|posologie)-(\d{1,3})$/;
const SINGLE_FIELDS = new Set(['_csrf', 'reponse', 'plus', 'lignes-affichees']);
const NO_BREAK = /[\n\r\t]/;

type Parsed =
  | { kind: 'answer'; answer: PrescriptionAnswer }
  | { kind: 'pdf'; file: File }
  | { kind: 'more'; state: FormState }
  | { kind: 'invalid'; status: number; state: FormState };

/** Checks the fields of a submitted form (after the form token): an answer, a request for more rows, or errors. */
function parseAnswer(form: FormData): Parsed {
  const state = emptyState();
  const invalid = (status: number, alert: string, field?: [string, string]): Parsed => {
    state.alert = alert;
    if (field) state.errors.set(field[0], field[1]);
    return { kind: 'invalid', status, state };
  };
  const texts = new Map<string, string>();
  const files: { name: string; file: File }[] = [];
  for (const [name, value] of form as unknown as Iterable<[string, string | File]>) {
    if (typeof value !== 'string') {
      files.push({ name, file: value });
      continue;
    }
    const line = LINE_FIELD.exec(name);
    if (line && Number(line[2]) > MAX_PRESCRIPTION_LINES) return invalid(400, `${MAX_PRESCRIPTION_LINES} lignes au plus : la réponse n’a pas été enregistrée.`, ['lignes', `${MAX_PRESCRIPTION_LINES} lignes au plus.`]);
    if (!(line && Number(line[2]) >= 1) && !SINGLE_FIELDS.has(name)) return invalid(400, `Champ inattendu « ${name.slice(0, 40)} » : la réponse n’a pas été enregistrée.`);
    if (texts.has(name)) return invalid(400, 'Un champ a été envoyé deux fois : la réponse n’a pas été enregistrée.');
    texts.set(name, value);
  }
  const answer = texts.get('reponse');
  if (answer !== 'pdf' && answer !== 'lignes' && answer !== 'aucun-changement') return invalid(400, 'Choisissez l’une des trois façons de répondre.');
  const badFile = files.find((f) => f.name !== 'ordonnance');
  if (badFile) return invalid(400, 'Seul le champ « Ordonnance » accepte un fichier : la réponse n’a pas été enregistrée.', ['ordonnance', 'Déposez le fichier dans ce champ.']);

  if (answer === 'pdf') {
    if (files.length === 0) return invalid(400, 'L’ordonnance n’a pas été enregistrée.', ['ordonnance', 'Choisissez un fichier PDF.']);
    if (files.length > 1) return invalid(400, 'L’ordonnance n’a pas été enregistrée.', ['ordonnance', 'Un seul fichier à la fois.']);
    if ([...texts.keys()].some((k) => LINE_FIELD.test(k))) return invalid(400, 'Envoyez soit le PDF, soit des lignes saisies.');
    return { kind: 'pdf', file: (files[0] as { file: File }).file };
  }
  if (files.length > 0) return invalid(400, 'Un fichier n’est accepté qu’avec le formulaire « Déposer l’ordonnance ».', ['ordonnance', 'Déposez le fichier avec le premier formulaire.']);
  if (answer === 'aucun-changement') {
    if ([...texts.keys()].some((k) => LINE_FIELD.test(k))) return invalid(400, 'Champ inattendu : la réponse n’a pas été enregistrée.');
    return { kind: 'answer', answer: { kind: 'no-change' } };
  }
  // Structured lines.
  const lines: PrescriptionLine[] = [];
  const shown = Number(texts.get('lignes-affichees'));
  const highest = Math.max(0, ...[...texts.keys()].map((k) => Number(LINE_FIELD.exec(k)?.[2] ?? 0)));
  for (let n = 1; n <= highest; n++) {
    const label = formText(texts.get(`medicament-${n}`), { label: `Ligne ${n}, médicament`, max: MAX_LABEL });
    const code = formText(texts.get(`code-${n}`), { label: `Ligne ${n}, code`, max: 13 });
    const dosage = formText(texts.get(`posologie-${n}`), { label: `Ligne ${n}, posologie`, max: MAX_DOSAGE });
    const input: LineInput = {
      label: (texts.get(`medicament-${n}`) ?? '').slice(0, MAX_LABEL * 2),
      code: (texts.get(`code-${n}`) ?? '').slice(0, 26),
      dosage: (texts.get(`posologie-${n}`) ?? '').slice(0, MAX_DOSAGE * 2),
    };
    state.lines[n - 1] = input;
    if (!label.ok) state.errors.set(`medicament-${n}`, label.error);
    else if (NO_BREAK.test(label.value)) state.errors.set(`medicament-${n}`, `Ligne ${n}, médicament : sur une seule ligne.`);
    if (!code.ok) state.errors.set(`code-${n}`, code.error);
    else if (code.value && !prescriptionCodeKind(code.value)) state.errors.set(`code-${n}`, `Ligne ${n}, code : un code CIS a 8 chiffres, un code CIP13 13 chiffres commençant par 3400.`);
    if (!dosage.ok) state.errors.set(`posologie-${n}`, dosage.error);
    else if (NO_BREAK.test(dosage.value)) state.errors.set(`posologie-${n}`, `Ligne ${n}, posologie : sur une seule ligne.`);
    if (label.ok && code.ok && dosage.ok) {
      if (!label.value && (code.value || dosage.value)) state.errors.set(`medicament-${n}`, `Ligne ${n}, médicament : à renseigner.`);
      else if (label.value) lines.push({ label: label.value, ...(code.value ? { code: code.value } : {}), ...(dosage.value ? { dosage: dosage.value } : {}) });
    }
  }
  for (let i = 0; i < state.lines.length; i++) state.lines[i] ??= { label: '', code: '', dosage: '' };
  state.rows = Number.isInteger(shown) && shown > 0 ? Math.min(MAX_PRESCRIPTION_LINES, shown) : ROWS_STEP;
  if (texts.get('plus') === '1') {
    state.errors.clear();
    state.rows = Math.min(MAX_PRESCRIPTION_LINES, Math.max(state.rows, highest) + ROWS_STEP);
    return { kind: 'more', state };
  }
  if (state.errors.size > 0) return invalid(400, 'Les lignes n’ont pas été enregistrées : corrigez les champs signalés.');
  if (lines.length === 0) return invalid(400, 'Les lignes n’ont pas été enregistrées.', ['lignes', 'Saisissez au moins une ligne (nom du médicament).']);
  return { kind: 'answer', answer: { kind: 'lines', lines } };
}

/** A real PDF: declared as such and starting with `%PDF-`. */
async function pdfAnswer(file: File): Promise<{ ok: true; answer: PrescriptionAnswer } | { ok: false; status: number; message: string }> {
  if (file.size === 0) return { ok: false, status: 400, message: 'Le fichier est vide.' };
  if (file.size > MAX_PDF_BYTES) return { ok: false, status: 413, message: 'Le fichier dépasse 10 Mo.' };
  const content = Buffer.from(await file.arrayBuffer());
  const type = file.type.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/pdf' || content.subarray(0, 5).toString('latin1') !== '%PDF-') {
    return { ok: false, status: 415, message: 'Ce fichier n’est pas un PDF : déposez l’ordonnance au format PDF.' };
  }
  return { ok: true, answer: { kind: 'pdf', content, mediaType: 'application/pdf' } };
}

// ---- the handler ----

export const prescriptionPage: LinkPageHandler = async (req, res, ctx) => {
  const c = await ctx.store.pathway.getCase(ctx.link.carePlan);
  if (!c) return linkNotFound(res);
  if (c.closedAt) return sendProblem(res, 410, 'Suivi terminé', 'Le suivi de ce plan pharmaceutique est clos : aucune réponse n’est plus attendue. Merci.', undefined, html``);
  const ppp = c.document as Ppp;
  const window = await currentWindow(ctx.store, c.carePlan);
  const linkToken = ctx.path.slice(LINK_PATH.length);
  const uploads = (await ctx.store.pathway.uploads(c.carePlan)).filter((u) => u.followup === window && u.rpps === ctx.link.rpps);
  const view: View = { c, ppp, window, formToken: prescriptionFormToken(linkToken, window, uploads.length), answers: uploads, ctx };
  const title = `Suivi à ${WINDOW_LABELS[window]} : ordonnance en cours`;
  const show = (status: number, state: FormState = emptyState()): void => sendPage(res, status, title, page(view, state));

  if (ctx.step === RECEIVED_STEP) {
    if (req.method !== 'GET') return linkNotFound(res);
    const last = uploads[uploads.length - 1];
    if (!last) return void res.redirect(303, ctx.path);
    return sendPage(
      res,
      200,
      'Réponse enregistrée',
      html`<h1>Réponse enregistrée</h1>
<p class="succes" role="status">Merci : votre réponse pour le suivi à ${WINDOW_LABELS[window]} a été transmise à l’équipe du patient.</p>
<dl class="fiche">
<dt>Réponse</dt><dd>${KIND_LABELS[last.kind] ?? last.kind}</dd>
<dt>Reçue le</dt><dd>${frenchInstant(last.received)}</dd>
${last.kind === 'lines' && Array.isArray(last.lines) ? html`<dt>Lignes</dt><dd><ul>${(last.lines as PrescriptionLine[]).map((l) => html`<li>${l.label}${l.code ? html` <code>${l.code}</code>` : ''}${l.dosage ? ` — ${l.dosage}` : ''}</li>`)}</ul></dd>` : ''}
</dl>
<p><a href="${ctx.path}">Revenir à la demande</a> pour compléter votre réponse.</p>`,
    );
  }
  if (ctx.step !== undefined) return linkNotFound(res);
  if (req.method === 'GET') return show(200);

  const body = await readBody(req);
  if (!body.ok) {
    if (body.status === 413) res.setHeader('Connection', 'close');
    const state = emptyState();
    state.alert = `L’ordonnance n’a pas été enregistrée : ${body.message}`;
    if (body.status === 413) state.errors.set('ordonnance', body.message);
    return show(body.status, state);
  }
  const sent = body.form.get('_csrf');
  if (typeof sent !== 'string' || body.form.getAll('_csrf').length !== 1 || !tokenEquals(sent, view.formToken)) {
    const replay = typeof sent === 'string' && uploads.some((_, k) => tokenEquals(sent, prescriptionFormToken(linkToken, window, k)));
    if (replay) return sendProblem(res, 409, 'Formulaire déjà envoyé', 'Ce formulaire a déjà été envoyé : votre réponse est enregistrée. Rouvrez le lien pour compléter votre réponse.', undefined, html`<p><a href="${ctx.path}">Revenir à la demande</a></p>`);
    return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette page. Rouvrez le lien et recommencez.', undefined, html`<p><a href="${ctx.path}">Revenir à la demande</a></p>`);
  }
  let parsed = parseAnswer(body.form);
  if (parsed.kind === 'pdf') {
    const pdf = await pdfAnswer(parsed.file);
    if (!pdf.ok) {
      const state = emptyState();
      state.alert = 'L’ordonnance n’a pas été enregistrée.';
      state.errors.set('ordonnance', pdf.message);
      parsed = { kind: 'invalid', status: pdf.status, state };
    } else parsed = { kind: 'answer', answer: pdf.answer };
  }
  if (parsed.kind === 'more') return show(200, parsed.state);
  if (parsed.kind === 'invalid') return show(parsed.status, parsed.state);

  const result = await recordPrescriptionAnswer(
    ctx.store,
    { carePlan: c.carePlan, window, rpps: ctx.link.rpps, answer: parsed.answer, expectedAnswers: uploads.length },
    { now: ctx.now, actor: `link:${ctx.link.role}`, ...(req.requestId ? { requestId: req.requestId } : {}), config: ctx.config, fhirBase: `${ctx.config.baseUrl}/fhir` },
  );
  if (!result.ok) {
    if (result.reason === 'replayed') return sendProblem(res, 409, 'Formulaire déjà envoyé', 'Ce formulaire a déjà été envoyé : votre réponse est enregistrée.', undefined, html`<p><a href="${ctx.path}">Revenir à la demande</a></p>`);
    if (result.reason === 'closed') return sendProblem(res, 410, 'Suivi terminé', 'Le suivi de ce plan pharmaceutique est clos : aucune réponse n’est plus attendue.', undefined, html``);
    return linkNotFound(res);
  }
  res.redirect(303, `${ctx.path}/${RECEIVED_STEP}`);
};
