// The identity review queue for two referents working through tens of thousands of items (issue 21, point 4,
// docs/identity.md "The review queue"): who an item is assigned to, and indexes for the filters and orders of
// `GET /identity/reviews` and the /identity/review page (state + grade / flag / assignee, by age or by score).
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 14,
  name: 'review_queue',
  sql: `
ALTER TABLE identity_reviews ADD COLUMN assignee text;
CREATE INDEX identity_reviews_grade ON identity_reviews (state, grade, created, id);
CREATE INDEX identity_reviews_flag ON identity_reviews (state, flag, created, id);
CREATE INDEX identity_reviews_score ON identity_reviews (state, score, created, id);
CREATE INDEX identity_reviews_assignee ON identity_reviews (assignee, state, created, id) WHERE assignee IS NOT NULL;
`,
};
