// Reserved: version 13 belongs to the identity anomalies migration (issue 21, point 1, developed beside this one).
// This empty stand-in keeps the versions gap-free on this branch; when both branches meet, the anomalies
// migration replaces it (same version) and this file goes.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 13,
  name: 'reserved',
  sql: 'SELECT 1;',
};
