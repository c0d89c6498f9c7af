// `passerelle report activity`. TO BE BUILT.
import type { Command } from 'commander';

export function registerActivity(_report: Command): void {}
