// The one style sheet of the pages, served from `/static/passerelle.css` (CSP `style-src 'self'`: no inline style).
// Kept in a module rather than a .css file so the built package carries it without a copy step.

export const STYLESHEET_PATH = '/static/passerelle.css';

export const STYLESHEET = `
:root{--bleu:#000091;--texte:#1b1b1b;--gris:#666;--fond:#f6f6f6;--ok:#18753c;--erreur:#b00020;--focus:#ff9940}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:1rem;line-height:1.5;color:var(--texte);background:#fff}
a{color:var(--bleu)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.evitement{position:absolute;left:-999rem}
.evitement:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:10}
header.bandeau{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;border-bottom:3px solid var(--bleu)}
header.bandeau .marque{font-weight:700;font-size:1.25rem;text-decoration:none;color:var(--bleu)}
header.bandeau .qui{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
dl.fiche{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.fiche dt{font-weight:600}
dl.fiche dd{margin:0}
dl.fiche ul{margin:0;padding-left:1.2rem}
.tableau{overflow-x:auto}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.4rem .6rem;border-bottom:1px solid #ddd}
td code,td .aide{overflow-wrap:anywhere}
th{hyphens:auto}
td ul{margin:0;padding-left:1rem}
thead th{background:var(--fond)}
td.diff{background:#fff4d6}
fieldset{border:1px solid #ccc;border-radius:4px;padding:.75rem 1rem;margin:1rem 0}
legend{font-weight:600;padding:0 .25rem}
label{font-weight:600}
.choix{display:flex;gap:.5rem;align-items:center;margin:.25rem 0;min-height:2.75rem}
.choix label{font-weight:400}
input[type=radio]{width:1.25rem;height:1.25rem}
textarea{display:block;width:100%;min-height:6rem;font:inherit;padding:.5rem;border:1px solid var(--gris);border-radius:4px;margin-top:.25rem}
button{font:inherit;padding:.6rem 1.2rem;min-height:2.75rem;border-radius:4px;border:1px solid var(--bleu);background:var(--bleu);color:#fff;cursor:pointer}
button.secondaire{background:#fff;color:var(--bleu)}
.aide{color:var(--gris);font-size:.9rem;margin:.25rem 0}
.alerte{border-left:4px solid var(--erreur);background:#fdecee;padding:.5rem 1rem;margin:1rem 0}
.succes{border-left:4px solid var(--ok);background:#e6f4ea;padding:.5rem 1rem;margin:1rem 0}
.etat{display:inline-block;padding:.1rem .5rem;border-radius:1rem;background:var(--fond);border:1px solid #ccc;font-size:.9rem}
form.inline{display:inline}
@media (max-width:36rem){dl.fiche{grid-template-columns:1fr}dl.fiche dd{margin-bottom:.5rem}h1{font-size:1.35rem}}
/* ---- decision page of the MT and the PHO (src/pages/decision-page.ts) ---- */
section.reco{border:1px solid #ccc;border-radius:4px;padding:.75rem 1rem;margin:1.25rem 0}
section.reco h2{margin-top:.25rem;overflow-wrap:anywhere}
section.reco dl.fiche dd{overflow-wrap:anywhere}
.erreur-champ{color:var(--erreur);font-weight:600;margin:.25rem 0}
fieldset.invalide{border-color:var(--erreur);border-width:2px}
textarea[aria-invalid=true]{border:2px solid var(--erreur)}
details.historique{margin-top:.75rem}
details.historique summary{cursor:pointer;color:var(--bleu);min-height:2.75rem;display:flex;align-items:center}
details.historique ol{margin:.25rem 0;padding-left:1.4rem;overflow-wrap:anywhere}
p.actions{display:flex;flex-wrap:wrap;gap:.75rem}
@media (max-width:36rem){section.reco{padding:.5rem .6rem}main{padding:.6rem}}
/* ---- end of the decision page ---- */

/* ---- prescription request page (D45/D90, src/pages/prescription-page.ts) ---- */
h3{font-size:1.1rem;margin:0 0 .5rem}
ol.recos{padding-left:1.5rem}
ol.recos li{margin:.5rem 0}
ol.recos p{margin:.15rem 0}
form.reponse{border:1px solid #ccc;border-radius:4px;padding:1rem;margin:1rem 0}
form.reponse fieldset.ligne{margin:.5rem 0;padding:.5rem .75rem}
.ligne-champs{display:grid;grid-template-columns:2fr 1fr 2fr;gap:.5rem 1rem;align-items:start}
.ligne-champs label{display:block;font-size:.95rem}
input[type=text]{display:block;width:100%;font:inherit;padding:.5rem;min-height:2.75rem;border:1px solid var(--gris);border-radius:4px;margin-top:.25rem}
input[type=file]{display:block;font:inherit;margin:.5rem 0;max-width:100%}
input[aria-invalid=true]{border:2px solid var(--erreur)}
p.boutons{display:flex;flex-wrap:wrap;gap:.5rem}
@media (max-width:36rem){.ligne-champs{grid-template-columns:1fr}}
/* ---- end prescription request page ---- */

/* ---- case manager page (/pathway, pathway-page.ts) ---- */
form.filtres{display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;align-items:flex-end;margin:0 0 1rem}
form.filtres .alerte{flex-basis:100%}
form.filtres .champ{display:flex;flex-direction:column;gap:.25rem;min-width:12rem;max-width:100%}
select{font:inherit;min-height:2.75rem;padding:.4rem .5rem;border:1px solid var(--gris);border-radius:4px;background:#fff;color:var(--texte);max-width:100%}
ul.a-faire li{margin:.25rem 0}
ul.a-faire li.en-retard{border-left:4px solid var(--erreur);padding-left:.5rem}
.etape-clos{background:#e6f4ea}
.etape-attente-decisions{background:#fff4d6}
.choix-ligne{display:flex;flex-wrap:wrap;gap:0 1.5rem}
.propose{display:inline-block;margin-left:.25rem;padding:0 .4rem;border-radius:1rem;border:1px solid var(--bleu);color:var(--bleu);font-size:.85rem;font-weight:600}
form.suivi fieldset .alerte{margin:.25rem 0 .5rem}
form.suivi textarea{min-height:3.5rem}
@media (max-width:36rem){form.filtres .champ{min-width:100%}form.filtres button{width:100%}}
/* ---- end of the case manager page ---- */

/* ---- review queue (/identity/review, review-page.ts; /identity/patient, identity-page.ts) ---- */
table.cote-a-cote td.diff{background:#fff4d6;font-weight:600}
table.cote-a-cote tr.ecart-equal td:nth-child(4){color:#2f6b3a}
table.compteurs td{text-align:center;font-size:1.2rem}
table.file td,table.file th{vertical-align:top}
nav.pages{display:flex;gap:1.5rem;margin:1rem 0}
a:focus-visible,button:focus-visible,select:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
/* ---- end of the review queue ---- */

/* ---- dashboard (/reports/dashboard, dashboard-page.ts) ---- */
form.tableau-de-bord-filtres{align-items:flex-start}
form.tableau-de-bord-filtres input[type=date]{display:block;font:inherit;padding:.4rem .5rem;min-height:2.75rem;border:1px solid var(--gris);border-radius:4px;margin-top:.25rem}
form.tableau-de-bord-filtres .champ .aide{margin:0;font-size:.85rem}
form.tableau-de-bord-filtres .champ:last-child{align-self:flex-end}
.erreur-champ{color:var(--erreur);font-weight:600;font-size:.95rem}
.en-erreur input{border:2px solid var(--erreur)}
dl.synthese{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.75rem;margin:1rem 0}
dl.synthese div{border:1px solid #ddd;border-left:4px solid var(--bleu);padding:.5rem .75rem;background:var(--fond)}
dl.synthese dt{font-size:.9rem;color:var(--gris)}
dl.synthese dd{margin:0;font-size:1.4rem;font-weight:700}
section.indicateur{margin:2rem 0;border-top:1px solid #ddd}
figure.graphique{margin:1rem 0;overflow-x:auto}
figure.graphique svg{max-width:100%;height:auto;display:block}
table.chiffres{font-size:.9rem}
table.chiffres td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.chiffres th[scope=row]{min-width:10rem}
table.chiffres th[scope=col]{vertical-align:bottom;hyphens:auto;-webkit-hyphens:auto}
table.chiffres th .aide{font-size:.85em;font-weight:normal}
table.chiffres caption{text-align:left;font-weight:600;padding:.25rem 0}
p.telechargement{margin:.5rem 0 0}
@media print{
.evitement,.bandeau form,form.tableau-de-bord-filtres,p.telechargement{display:none}
body{font-size:10pt}
section.indicateur,figure.graphique,dl.synthese div{break-inside:avoid;page-break-inside:avoid}
figure.graphique svg{max-width:100%}
.tableau{overflow:visible}
table.chiffres{font-size:8.5pt}
table.chiffres td{white-space:normal}
table.chiffres th[scope=row]{min-width:0}
a{color:inherit;text-decoration:none}
}
/* ---- end of the dashboard ---- */

/* ---- conflict board (/identity/conflicts, conflict-board-page.ts) ---- */
table.synthese td{font-weight:600}
table.conflits td,table.conflits th{vertical-align:top}
form.attribution{display:flex;flex-wrap:wrap;gap:.25rem .5rem;align-items:center;margin:0}
form.attribution select{min-width:10rem}
span.finess{font-variant-numeric:tabular-nums;white-space:nowrap}
details>summary{cursor:pointer;min-height:2.75rem;display:list-item;padding:.5rem 0}
details>summary:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
/* ---- end of the conflict board ---- */
`;
