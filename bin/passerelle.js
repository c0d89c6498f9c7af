#!/usr/bin/env node
// Launcher for the `passerelle` CLI: runs the TypeScript entry point through tsx so no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
