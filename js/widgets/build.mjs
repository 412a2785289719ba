/* global process */
// Bundle the sky front end (+ Aladin Lite) into kernel_lib/widgets/static/:
//   sky.js      the SkyView anywidget (one self-contained ESM file: anywidget loads one file)
//   skycore.js  the sky core alone, which the JupyterLab sky panel loads at run time from
//               <base url>lsstbox/static/skycore.js (server_ext/static.py) with import()
//   sky.css     our CSS, for anywidget's `_css` (both bundles also inject it themselves)
//   image.js    the ImageView anywidget: the lab's image viewer (js/src/imageViewer.ts) bundled
//   table.js    the TableView anywidget: a Lumino DataGrid over a table that stays in the kernel
// (image.js and table.js import @jupyterlab/* and @lumino/* from the repository's node_modules)
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
const licence = `Bundles Aladin Lite ${aladin.version} (https://github.com/cds-astro/aladin-lite), LGPL-3.0: see aladin-lite.LICENSE next to this file.`;
// name -> [banner, bundles Aladin Lite]
const entries = {
  sky: ['lsstbox SkyView widget.', true],
  skycore: [
    'lsstbox sky core (Aladin Lite view, shared by the SkyView widget and the sky panel).',
    true
  ],
  image: ['lsstbox ImageView widget (the lab image viewer).', false],
  table: ['lsstbox TableView widget (Lumino DataGrid).', false]
};

mkdirSync(outdir, { recursive: true });
// One build per entry: each file self-contained (no shared chunks, no code splitting).
for (const [name, [what, withAladin]] of Object.entries(entries)) {
  await build({
    entryPoints: { [name]: join(here, 'src', `${name}.js`) },
    outdir,
    bundle: true,
    splitting: false,
    format: 'esm',
    target: 'es2020',
    minify: !dev,
    sourcemap: dev ? 'inline' : false,
    legalComments: 'none',
    // CSS as a string: skycore injects it into document.head (a module loaded with import()
    // gets no stylesheet otherwise)
    loader: { '.css': 'text' },
    banner: { js: withAladin ? `/* ${what} ${licence} */` : `/* ${what} */` },
    // @jupyterlab/* and @lumino/* of the lab's own build (js/src imports them too)
    nodePaths: [join(here, '..', '..', 'node_modules')],
    define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
    logLevel: 'info'
  });
}
copyFileSync(join(here, 'src', 'sky.css'), join(outdir, 'sky.css'));
copyFileSync(
  join(here, 'node_modules', 'aladin-lite', 'LICENSE'),
  join(outdir, 'aladin-lite.LICENSE')
);
