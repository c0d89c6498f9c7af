// The reports' own rows (issue 20, docs/reports.md): what each PPP counts for, kept up to date in the same
// transaction as the pathway's writes (src/store/pathway-repository.ts), so that the billing extraction, the activity
// figures and the active professionals are SQL aggregates over indexed columns, never a scan of the documents.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 13,
  name: 'report_tables',
  sql: `
CREATE TABLE report_ppp (
  careplan            TEXT PRIMARY KEY,
  ppp_id              TEXT NOT NULL,
  pathway             TEXT NOT NULL,
  finess              TEXT NOT NULL,
  establishment_name  TEXT NOT NULL,
  patient             TEXT NOT NULL,     -- federated Patient id
  created_day         TEXT NOT NULL,     -- YYYY-MM-DD of the PPP's creation (its own offset): the period's filter
  entry_door          TEXT NOT NULL,     -- hopital | ville
  rcp_mode            TEXT,              -- sync | async | NULL (no RCP)
  rcp_day             TEXT,              -- YYYY-MM-DD of the RCP: the billing period's filter and the tariff year
  recommendations     INTEGER NOT NULL,
  sent_at             TEXT,
  closed_at           TEXT
);
CREATE INDEX report_ppp_created ON report_ppp (created_day, finess);
CREATE INDEX report_ppp_finess ON report_ppp (finess, created_day);
CREATE INDEX report_ppp_rcp ON report_ppp (rcp_day, finess);
CREATE TABLE report_member (
  careplan         TEXT NOT NULL,
  role             TEXT NOT NULL,        -- DAH | MT | PHO
  rpps             TEXT NOT NULL,
  name             TEXT NOT NULL,
  took_part        INTEGER NOT NULL,     -- 1: took part in the RCP (billable)
  pharmacy_finess  TEXT,                 -- PHO: the pharmacy the PPP names
  PRIMARY KEY (careplan, role, rpps)
);
CREATE INDEX report_member_rpps ON report_member (rpps, role);
CREATE TABLE report_decision (
  careplan        TEXT NOT NULL,
  recommendation  TEXT NOT NULL,
  actor           TEXT NOT NULL,         -- MT | PHO
  decision        TEXT NOT NULL,         -- pending | retenu | non-retenu | retenu-modifie | declined
  decided_at      TEXT,
  created_day     TEXT NOT NULL,  -- the PPP's creation day (as report_ppp): the period without a join
  finess          TEXT NOT NULL,  -- the PPP's establishment
  PRIMARY KEY (careplan, recommendation, actor)
);
CREATE INDEX report_decision_period ON report_decision (created_day, finess, actor, decision);
CREATE TABLE report_followup (
  careplan   TEXT NOT NULL,
  followup   TEXT NOT NULL,              -- d45 | d90
  due_at     TEXT NOT NULL,
  done_at    TEXT,                       -- the outcomes recorded for the window
  created_day TEXT NOT NULL,  -- the PPP's creation day (as report_ppp): the period without a join
  finess      TEXT NOT NULL,  -- the PPP's establishment
  PRIMARY KEY (careplan, followup)
);
CREATE INDEX report_followup_period ON report_followup (created_day, finess, followup, due_at);
CREATE TABLE report_link_use (
  rpps      TEXT NOT NULL,
  role      TEXT NOT NULL,               -- MT | PHO
  careplan  TEXT NOT NULL,
  day       TEXT NOT NULL,               -- YYYY-MM-DD (UTC) of a valid use of a decision or prescription link
  PRIMARY KEY (rpps, role, careplan, day)
);
CREATE INDEX report_link_use_day ON report_link_use (day);
`,
};
