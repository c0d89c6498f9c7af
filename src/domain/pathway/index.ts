export * from './inclusion.js';
export * from './rcp.js';
export * from './followup.js';
