// PostgreSQL migrations in order; add `NNN_name.ts` beside this file and list it here.
import { migration as m001 } from './001_initial.js';
import { migration as m002 } from './002_identity.js';
import { migration as m003 } from './003_outbox.js';
import { migration as m004 } from './004_outbox_per_destination.js';
import { migration as m005 } from './005_search_index_state.js';
import { migration as m006 } from './006_search_index_ref.js';
import { migration as m007 } from './007_security.js';
import { migration as m008 } from './008_mssante_directory.js';
import { migration as m009 } from './009_mssante_mail.js';
import { migration as m010 } from './010_pathway_links.js';
import { migration as m011 } from './011_pathway_cases.js';
import { migration as m012 } from './012_report_tables.js';
import { migration as m013 } from './013_identity_anomaly.js';
import { migration as m014 } from './014_review_queue.js';
import { migration as m015 } from './015_search_index_value_no_ref.js';
import type { Migration } from '../migration.js';

export const pgMigrations: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011, m012, m013, m014, m015];
