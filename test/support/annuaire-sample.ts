// A small "extraction correspondance MSSanté" file as the Annuaire Santé publishes it (pipe-separated, header row,
// no quoting), with the kinds of lines a real extraction holds and a few bad ones. Fictitious people and structures.
export const SAMPLE_HEADER = [
  'Type BAL',
  'Adresse BAL',
  'Type identifiant PP',
  'Identifiant PP',
  'Identification nationale PP',
  'Type identifiant structure',
  'Identification Structure',
  'Civilité d’exercice',
  "Nom d'exercice",
  "Prénom d'exercice",
  'Libellé profession',
  'Libellé savoir-faire',
  'Raison Sociale structure BAL',
  'Code postal structure BAL',
  'L6LIGNEACHEMINEMENT structure BAL',
];

const line = (...cells: string[]): string => cells.join('|');

/** Line numbers (the header is line 1) of the bad lines, and why. */
export const SAMPLE_BAD = {
  missingAddress: 6,
  badRpps: 8,
  wrongColumns: 10,
  bidi: 12,
  notEmail: 14,
} as const;

export function sampleExtraction(): string {
  const lines = [
    SAMPLE_HEADER.join('|'),
    // 2, 3: one GP with two addresses (a personal BAL and her practice's)
    line('PER', 'helene.lefevre@medecin.mssante.fr', '8', '10001234567', '810001234567', '1', '1590780193', 'DR', 'LEFÈVRE', 'Hélène', 'Médecin', 'Médecine générale', 'Cabinet du Beffroi', '59000', 'LILLE'),
    line('CAB', 'cabinet.beffroi@medecin.mssante.fr', '8', '10001234567', '810001234567', '', '', 'DR', 'LEFÈVRE', 'Hélène', 'Médecin', 'Médecine générale', 'Cabinet du Beffroi', '59000', 'LILLE'),
    // 4: a community pharmacist
    line('PER', 'francois.nguyen@pharmacien.mssante.fr', '8', '10009876543', '810009876543', '1', '1590001234', 'M', 'NGUYEN', 'François', 'Pharmacien', '', 'Pharmacie de l’Église', '59800', 'LILLE'),
    // 5: an organisational BAL of a hospital (no person)
    line('ORG', 'pharmacie.interieure@chu-test.mssante.fr', '', '', '', '1', '1590780193', '', '', '', '', '', 'CHU de Test', '59037', 'LILLE CEDEX'),
    // 6: no address
    line('PER', '', '8', '10001111111', '810001111111', '', '', 'DR', 'MARTIN', 'Paul', 'Médecin', '', '', '75014', 'PARIS'),
    // 7: an applicative BAL
    line('APP', 'passerelle@chu-test.mssante.fr', '', '', '', '1', '1590780193', '', '', '', '', '', 'CHU de Test', '59037', 'LILLE CEDEX'),
    // 8: an RPPS of the wrong shape
    line('PER', 'jean.dupont@medecin.mssante.fr', '8', '1000123', '81000123', '', '', 'DR', 'DUPONT', 'Jean', 'Médecin', '', '', '69003', 'LYON'),
    // 9: an ADELI nurse from Corsica-free mainland
    line('PER', 'zoe.delacroix@infirmier.mssante.fr', '0', '592345678', '0592345678', '', '', 'MME', 'DE LA CROIX', 'Zoé', 'Infirmier', '', '', '59100', 'ROUBAIX'),
    // 10: a column missing
    line('PER', 'anne.petit@medecin.mssante.fr', '8', '10005555555', '810005555555', '', '', 'DR', 'PETIT', 'Anne', 'Médecin', '', '', '59000'),
    // 11: a second pharmacist with an accented, particle-laden name
    line('PER', 'etienne.dorleans@pharmacien.mssante.fr', '8', '10007777777', '810007777777', '1', '1590001234', 'M', "D'ORLÉANS", 'Étienne', 'Pharmacien', '', 'Pharmacie de l’Église', '59800', 'LILLE'),
    // 12: a right-to-left override hidden in a name
    line('PER', 'eve.martin@medecin.mssante.fr', '8', '10008888888', '810008888888', '', '', 'DR', 'MARTIN\u202e', 'Ève', 'Médecin', '', '', '59000', 'LILLE'),
    // 13: a Corsican FINESS
    line('ORG', 'secretariat@ch-ajaccio-test.mssante.fr', '', '', '', '1', '12A0000015', '', '', '', '', '', 'CH d’Ajaccio (test)', '20000', 'AJACCIO'),
    // 14: an address that is not an e-mail
    line('PER', 'not an address', '8', '10006666666', '810006666666', '', '', 'DR', 'ROUX', 'Luc', 'Médecin', '', '', '59000', 'LILLE'),
  ];
  return `${lines.join('\r\n')}\r\n`;
}
