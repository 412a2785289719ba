// ImageView: the front end of kernel_lib.widgets.image.ImageView, an anywidget ESM module.
//
// The lab's own FITS image viewer (js/src/imageViewer.ts, a Lumino widget rendering tiles from
// the server's <base url>lsstbox/image/* API), bundled in and attached into the output.
//
// Traits: src, stretch, cmap (both ways), height, target ([ra, dec] of the view's centre: set by
// the kernel it centres the view; pans and zooms report it back, debounced).
// Protocol (custom widget messages):
//   kernel -> view  {type: 'set_sources', n} + buffers [ra float64, dec float64]
//                   {type: 'clear_sources'} | {type: 'clicked_label', text}      (+ view?)
//   view -> kernel  {type: 'ready' | 'closed' | 'clicked' | 'pixel' | 'error', view, ...}
// The kernel queues what it sends until a view says 'ready'; a message with a `view` field is
// meant for that view only (a replay for a view rendered later).
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { ImageViewer, imageRequest } from '../../src/imageViewer';
import css from '../../style/imageviewer.css';
import {
  angularDistance,
  closeView,
  connected,
  injectCss,
  messageOf,
  onModel,
  onViewMessages,
  randomId,
  typed
} from './common.js';

const STYLE_ID = 'lsstbox-image-widget-css';
const EXTRA_CSS = `
.lsstbox-image-widget { position: relative; width: 100%; }
.lsstbox-image-widget > .lsstbox-ImageViewer { position: absolute; inset: 0; }
`;
const REPORT_MS = 250;

async function render({ model, el }) {
  // the viewer's CSS (the lab extension may have loaded it already: harmless)
  injectCss(STYLE_ID, css + EXTRA_CSS);
  const viewId = randomId();
  let closed = false;
  const cleanups = [];
  el.classList.add('lsstbox-image-widget');
  el.dataset.testid = 'lsstbox-image-widget';
  el.dataset.view = viewId;
  el.style.height = `${model.get('height')}px`;

  const send = msg => {
    if (!closed) {
      model.send({ ...msg, view: viewId });
    }
  };
  const settings = ServerConnection.makeSettings();
  const viewer = new ImageViewer({
    src: model.get('src'),
    serverSettings: settings,
    display: { stretch: model.get('stretch'), cmap: model.get('cmap') }
  });
  await connected(el, () => closed);
  Widget.attach(viewer, el);

  // ---- sources: the last ones given, drawn again when the image changes
  let sources = null; // {ra, dec}
  let sourceSeq = 0;
  const applySources = async () => {
    const seq = ++sourceSeq;
    if (!sources) {
      viewer.clearSources();
      return;
    }
    try {
      const n = await viewer.setSources(sources.ra, sources.dec);
      if (seq === sourceSeq) {
        el.dataset.sources = String(n);
      }
    } catch (err) {
      if (seq === sourceSeq) {
        send({ type: 'error', message: `sources: ${messageOf(err)}` });
      }
    }
  };

  // ---- target: kernel -> view centres it; the view's centre -> kernel, debounced
  let lastTarget = null; // what this view last reported (its echo is not applied again)
  let settled = false; // no reports before the kernel's target (if any) is applied
  const sameAs = (a, b) =>
    Array.isArray(a) &&
    Array.isArray(b) &&
    angularDistance(a[0], a[1], b[0], b[1]) < 1e-7;
  const applyTarget = async () => {
    const target = model.get('target');
    if (!Array.isArray(target) || sameAs(target, lastTarget)) {
      return;
    }
    try {
      await viewer.centerOnSky(Number(target[0]), Number(target[1]));
    } catch (err) {
      send({ type: 'error', message: `target: ${messageOf(err)}` });
    }
  };
  let reportTimer = 0;
  const report = async () => {
    if (!settled || closed || viewer.state !== 'ready' || !viewer.info?.wcs) {
      return;
    }
    const { x, y } = viewer.view;
    try {
      const { ra, dec } = await viewer.pixToSky([x], [y]);
      if (closed || typeof ra[0] !== 'number' || typeof dec[0] !== 'number') {
        return;
      }
      const next = [ra[0], dec[0]];
      if (sameAs(next, model.get('target'))) {
        return;
      }
      lastTarget = next;
      el.dataset.target = `${next[0].toFixed(7)},${next[1].toFixed(7)}`;
      model.set('target', next);
      model.save_changes();
    } catch {
      // the WCS call failed: the next move reports again
    }
  };
  const onViewChanged = () => {
    window.clearTimeout(reportTimer);
    reportTimer = window.setTimeout(() => void report(), REPORT_MS);
  };
  viewer.viewChanged.connect(onViewChanged);

  // ---- display: both ways (the viewer's own selects too)
  const syncDisplay = () => {
    const d = viewer.display;
    let changed = false;
    for (const key of ['stretch', 'cmap']) {
      if (model.get(key) !== d[key]) {
        model.set(key, d[key]);
        changed = true;
      }
    }
    if (changed) {
      model.save_changes();
    }
  };
  const onSelectChange = event => {
    const t = event.target;
    if (t instanceof HTMLSelectElement) {
      setTimeout(syncDisplay, 0); // after the viewer's own handler
    }
  };
  viewer.node.addEventListener('change', onSelectChange);
  cleanups.push(() =>
    viewer.node.removeEventListener('change', onSelectChange)
  );

  // ---- clicks: a source (its index; the kernel has the row) or a pixel
  let picked = null; // the source the viewer picked in this click
  const onSourceSelected = (_, selection) => {
    picked = selection;
    if (selection) {
      el.dataset.clicked = String(selection.index);
      send({
        type: 'clicked',
        index: selection.index,
        ra: selection.ra,
        dec: selection.dec,
        x: selection.x,
        y: selection.y
      });
    }
  };
  viewer.sourceSelected.connect(onSourceSelected);
  const canvas = viewer.node.querySelector('canvas');
  let down = null;
  const onDown = event => {
    down = { x: event.clientX, y: event.clientY };
    picked = null;
  };
  const onClick = async event => {
    const start = down;
    down = null;
    if (
      !start ||
      Math.hypot(event.clientX - start.x, event.clientY - start.y) >= 4 ||
      viewer.state !== 'ready'
    ) {
      return;
    }
    if (picked) {
      return; // a source: reported above
    }
    const rect = canvas.getBoundingClientRect();
    const [x, y] = viewer.canvasToPixel(
      event.clientX - rect.left,
      event.clientY - rect.top
    );
    try {
      const r = await imageRequest(
        'pixel',
        { src: viewer.src, x: String(x), y: String(y) },
        {},
        settings
      );
      const p = await r.json();
      if (p && p.inside) {
        el.dataset.clicked = `pixel:${p.ix},${p.iy}`;
        send({ type: 'pixel', x, y, ...p });
      }
    } catch (err) {
      send({ type: 'error', message: `pixel: ${messageOf(err)}` });
    }
  };
  if (canvas) {
    canvas.addEventListener('pointerdown', onDown);
    canvas.addEventListener('click', onClick);
    cleanups.push(() => {
      canvas.removeEventListener('pointerdown', onDown);
      canvas.removeEventListener('click', onClick);
    });
  }

  // ---- traits: kernel -> view
  const handlers = [
    [
      'change:src',
      () => {
        viewer.setSource(model.get('src'));
        lastTarget = null;
        void viewer.ready.then(
          () => void applySources().then(applyTarget),
          () => undefined
        );
      }
    ],
    [
      'change:stretch',
      () => viewer.setDisplay({ stretch: model.get('stretch') })
    ],
    ['change:cmap', () => viewer.setDisplay({ cmap: model.get('cmap') })],
    ['change:target', () => void applyTarget()],
    [
      'change:height',
      () => {
        el.style.height = `${model.get('height')}px`;
      }
    ]
  ];
  onModel(model, handlers, cleanups);

  // ---- kernel -> view messages (one meant for another view is not ours)
  const onMessage = (msg, buffers) => {
    if (msg.type === 'set_sources') {
      sources = {
        ra: typed(Float64Array, buffers[0]),
        dec: typed(Float64Array, buffers[1])
      };
      void applySources();
    } else if (msg.type === 'clear_sources') {
      sources = null;
      delete el.dataset.sources;
      void applySources();
    } else if (msg.type === 'clicked_label') {
      const field = viewer.node.querySelector(
        '[data-testid="lsstbox-image-source"]'
      );
      if (field) {
        field.textContent = msg.text;
      }
    }
  };
  onViewMessages(model, viewId, onMessage, cleanups);

  // ---- state and errors
  const onInfo = (_, info) => {
    el.dataset.state = viewer.state;
    if (!info) {
      el.dataset.error = viewer.error;
      send({ type: 'error', message: viewer.error });
    } else {
      delete el.dataset.error;
    }
  };
  viewer.infoChanged.connect(onInfo);
  el.dataset.state = viewer.state;

  // for tests and the browser console: $0.lsstboxImage.viewer
  el.lsstboxImage = { viewer, viewId };
  send({ type: 'ready' });
  void viewer.ready.then(
    async () => {
      await applyTarget();
      settled = true;
      onViewChanged();
    },
    () => {
      settled = true;
    }
  );

  return () => {
    closed = true;
    window.clearTimeout(reportTimer);
    closeView(model, viewId, cleanups);
    delete el.lsstboxImage;
    viewer.dispose();
  };
}

export default { render };
