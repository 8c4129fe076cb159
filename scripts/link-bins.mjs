// After the build: makes the four binaries executable and links them into node_modules/.bin, so
// `npx retrace-server-agent …` works in this checkout (npm links only dependencies' binaries).
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const binDir = join(root, 'node_modules', '.bin');
if (!existsSync(join(root, 'node_modules'))) process.exit(0); // installed as a package: npm links the bins itself
mkdirSync(binDir, { recursive: true });
for (const [name, file] of Object.entries(bin)) {
  const target = join(root, file);
  chmodSync(target, 0o755);
  rmSync(join(binDir, name), { force: true });
  symlinkSync(relative(binDir, target), join(binDir, name));
}
