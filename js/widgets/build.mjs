/* global process */
// Bundle src/sky.js (+ Aladin Lite) into kernel_lib/widgets/static/ for anywidget.
//   node build.mjs [--dev]      (npm run build / npm run build:dev)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, '..', '..', 'kernel_lib', 'widgets', 'static');
const dev = process.argv.includes('--dev');
const aladin = JSON.parse(
  readFileSync(
    join(here, 'node_modules', 'aladin-lite', 'package.json'),
    'utf8'
  )
);

mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { sky: join(here, 'src', 'sky.js') },
  outdir,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  legalComments: 'none',
  banner: {
    js: `/* lsstbox SkyView widget. Bundles Aladin Lite ${aladin.version} (https://github.com/cds-astro/aladin-lite), LGPL-3.0: see aladin-lite.LICENSE next to this file. */`
  },
  logLevel: 'info'
});
copyFileSync(
  join(here, 'node_modules', 'aladin-lite', 'LICENSE'),
  join(outdir, 'aladin-lite.LICENSE')
);
