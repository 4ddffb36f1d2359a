#!/usr/bin/env node
// `npx gateway-admin`: runs the TypeScript entry through tsx, so the CLI needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./gateway-admin.ts');
