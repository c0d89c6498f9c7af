// The reports' own rows (issue 20, docs/reports.md), SQLite migration 013 in PostgreSQL's idiom: what each PPP counts for, kept up to date in the same
// transaction as the pathway's writes (src/store/pathway-repository.ts), so that the billing extraction, the activity
// figures and the active professionals are SQL aggregates over indexed columns, never a scan of the documents.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 12,
  name: 'report_tables',
  sql: `
CREATE TABLE report_ppp (
  careplan            text COLLATE "C" PRIMARY KEY,
  ppp_id              text COLLATE "C" NOT NULL,
  pathway             text COLLATE "C" NOT NULL,
  finess              text COLLATE "C" NOT NULL,
  establishment_name  text COLLATE "C" NOT NULL,
  patient             text COLLATE "C" NOT NULL,     -- federated Patient id
  created_day         text COLLATE "C" NOT NULL,     -- YYYY-MM-DD of the PPP's creation (its own offset): the period's filter
  entry_door          text COLLATE "C" NOT NULL,     -- hopital | ville
  rcp_mode            text COLLATE "C",              -- sync | async | NULL (no RCP)
  rcp_day             text COLLATE "C",              -- YYYY-MM-DD of the RCP: the billing period's filter and the tariff year
  recommendations     integer NOT NULL,
  sent_at             text COLLATE "C",
  closed_at           text COLLATE "C"
);
CREATE INDEX report_ppp_created ON report_ppp (created_day, finess);
CREATE INDEX report_ppp_finess ON report_ppp (finess, created_day);
CREATE INDEX report_ppp_rcp ON report_ppp (rcp_day, finess);
CREATE TABLE report_member (
  careplan         text COLLATE "C" NOT NULL,
  role             text COLLATE "C" NOT NULL,        -- DAH | MT | PHO
  rpps             text COLLATE "C" NOT NULL,
  name             text COLLATE "C" NOT NULL,
  took_part        integer NOT NULL,     -- 1: took part in the RCP (billable)
  pharmacy_finess  text COLLATE "C",                 -- PHO: the pharmacy the PPP names
  PRIMARY KEY (careplan, role, rpps)
);
CREATE INDEX report_member_rpps ON report_member (rpps, role);
CREATE TABLE report_decision (
  careplan        text COLLATE "C" NOT NULL,
  recommendation  text COLLATE "C" NOT NULL,
  actor           text COLLATE "C" NOT NULL,         -- MT | PHO
  decision        text COLLATE "C" NOT NULL,         -- pending | retenu | non-retenu | retenu-modifie | declined
  decided_at      text COLLATE "C",
  created_day     text COLLATE "C" NOT NULL,  -- the PPP's creation day (as report_ppp): the period without a join
  finess          text COLLATE "C" NOT NULL,  -- the PPP's establishment
  PRIMARY KEY (careplan, recommendation, actor)
);
CREATE INDEX report_decision_period ON report_decision (created_day, finess, actor, decision);
CREATE TABLE report_followup (
  careplan   text COLLATE "C" NOT NULL,
  followup   text COLLATE "C" NOT NULL,              -- d45 | d90
  due_at     text COLLATE "C" NOT NULL,
  done_at    text COLLATE "C",                       -- the outcomes recorded for the window
  created_day text COLLATE "C" NOT NULL,  -- the PPP's creation day (as report_ppp): the period without a join
  finess      text COLLATE "C" NOT NULL,  -- the PPP's establishment
  PRIMARY KEY (careplan, followup)
);
CREATE INDEX report_followup_period ON report_followup (created_day, finess, followup, due_at);
CREATE TABLE report_link_use (
  rpps      text COLLATE "C" NOT NULL,
  role      text COLLATE "C" NOT NULL,               -- MT | PHO
  careplan  text COLLATE "C" NOT NULL,
  day       text COLLATE "C" NOT NULL,               -- YYYY-MM-DD (UTC) of a valid use of a decision or prescription link
  PRIMARY KEY (rpps, role, careplan, day)
);
CREATE INDEX report_link_use_day ON report_link_use (day);
`,
};
