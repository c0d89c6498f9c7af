export * from './inclusion.js';
export * from './rcp.js';
