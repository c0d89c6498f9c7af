// `passerelle report billing|professionals|rebuild`. TO BE BUILT.
import type { Command } from 'commander';

export function registerBilling(_report: Command): void {}
