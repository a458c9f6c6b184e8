#!/usr/bin/env node
// The package ships TypeScript sources and runs them through tsx, so that the CLI, the tests
// and the gateway share one source of truth with no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
