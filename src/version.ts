import { readFileSync } from 'node:fs';

// src/version.ts and dist/version.ts both sit one level below package.json.
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION = manifest.version;
