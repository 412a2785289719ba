// The sky core: Aladin Lite v3 on the release's HiPS maps, with catalogs, MOCs and footprints,
// selections and clicks. Shared by the SkyView notebook widget (sky.js, bundled with it) and
// the JupyterLab sky panel (which loads the separate bundle `<base url>lsstbox/static/skycore.js`
// at run time with import()).
//
// Aladin Lite v3 (npm `aladin-lite`, LGPL-3.0) is bundled in by esbuild: no CDN. It is created
// with options that keep it off the network (no startup logger, no CDS default survey, no HiPS
// list from the MocServer, no Simbad/share/context-menu tools); every HiPS, MOC and catalog
// comes from the Jupyter server that serves this page (same origin, the Jupyter cookie
// authenticates).
//
// A core handles the kernel -> view messages of the widget's protocol (`core.handle(msg,
// buffers)`: add_catalog, add_moc, add_footprints, remove_layer, start_selection,
// clear_selection, clicked_label, select_rows) and reports through `options.send(msg)`: drawn, selection,
// clicked, error, and `view` (the centre and field of view, 250 ms after a pan or zoom).
// It owns Aladin's `positionChanged`, `zoomChanged`, `objectClicked` and `objectsSelected`
// callbacks (Aladin keeps one callback an event: do not set them from outside).
import A from 'aladin-lite';
import { angularDistance, injectCss, randomId, typed } from './common.js';
import css from './sky.css';

/** The window event linked sky views and image viewers move each other with. */
export const VIEW_EVENT = 'lsstbox:sky-view';

const STYLE_ID = 'lsstbox-sky-css';

// Aladin's module initialiser (wasm + a WebGL2 probe) runs on import; catching here keeps a
// browser without WebGL2 from reporting an unhandled rejection.
let initErr = null;
/** Resolves to true when Aladin Lite could start (WebGL2), false otherwise (see initError()). */
export const aladinReady = A.init.then(
  () => true,
  err => {
    initErr = String(err);
    return false;
  }
);

/** Why Aladin Lite could not start, or null. */
export function initError() {
  return initErr;
}

/** The Jupyter server's base URL, absolute and ending with '/'. */
export function jupyterBaseUrl() {
  let base = null;
  const el = document.getElementById('jupyter-config-data');
  if (el) {
    try {
      base = JSON.parse(el.textContent || '{}').baseUrl || null;
    } catch {
      base = null;
    }
  }
  if (!base && document.body && document.body.dataset.baseUrl) {
    base = document.body.dataset.baseUrl;
  }
  const url = new URL(base || '/', window.location.origin).href;
  return url.endsWith('/') ? url : url + '/';
}

/** A HiPS of the release, `<base>lsstbox/hips/<id>` (no trailing '/': Aladin appends '/Norder...'). */
export function hipsUrl(base, id) {
  return `${base}lsstbox/hips/${encodeURIComponent(id)}`;
}

/** A MOC: an absolute URL as is, a server path on this origin, else a MOC id of the release. */
export function mocUrl(base, ref) {
  if (/^https?:\/\//.test(ref)) {
    return ref;
  }
  if (ref.startsWith('/')) {
    return new URL(ref, window.location.origin).href;
  }
  return `${base}lsstbox/moc/${encodeURIComponent(ref)}.fits`;
}

/** The release's HiPS maps, [{id, title, band, url}] (url: what Aladin is given), [] on failure. */
export async function listSurveys(base) {
  try {
    const r = await fetch(`${base}lsstbox/hips/`, {
      credentials: 'same-origin'
    });
    if (!r.ok) {
      return [];
    }
    const list = await r.json();
    if (!Array.isArray(list)) {
      return [];
    }
    return list
      .filter(h => h && typeof h.id === 'string')
      .map(h => ({
        id: h.id,
        title: typeof h.title === 'string' && h.title ? h.title : h.id,
        band: typeof h.band === 'string' ? h.band : '',
        url: hipsUrl(base, h.id)
      }));
  } catch {
    return [];
  }
}

/** Coordinates Aladin parses locally: numbers only (a letter would send it to Sesame). */
function targetString(target) {
  const [ra, dec] = target;
  return `${Number(ra).toFixed(8)} ${dec >= 0 ? '+' : ''}${Number(dec).toFixed(8)}`;
}

function waitForSize(el) {
  return new Promise(resolve => {
    if (el.isConnected && el.clientWidth > 0 && el.clientHeight > 0) {
      resolve();
      return;
    }
    const ro = new ResizeObserver(() => {
      if (el.isConnected && el.clientWidth > 0 && el.clientHeight > 0) {
        ro.disconnect();
        resolve();
      }
    });
    ro.observe(el);
  });
}

function nextFrames(n) {
  return new Promise(resolve => {
    const step = k =>
      k <= 0 ? resolve() : requestAnimationFrame(() => step(k - 1));
    step(n);
  });
}

const finite = (value, fallback) =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

/**
 * Aladin Lite in `container` (once it has a size), on the HiPS `options.survey` of the server at
 * `options.base`. Rejects when Aladin Lite could not start (no WebGL2).
 *
 * options: {base, survey, target: [ra, dec], fov, send(msg), status?(text), testTarget?}
 */
export async function createSky(container, options = {}) {
  injectCss(STYLE_ID, css); // Aladin injects its own into each view
  const base = options.base || jupyterBaseUrl();
  let destroyed = false;
  // nothing is reported after destroy() (Aladin may still call back, a MOC still load)
  const send = msg => {
    if (!destroyed && typeof options.send === 'function') {
      options.send(msg);
    }
  };
  const status = text => {
    if (typeof options.status === 'function') {
      options.status(text);
    }
  };
  const layers = new Map(); // name -> {kind, obj, n, drawn}
  const id = `sky-${randomId()}`; // the source of this core's link events

  const ok = await aladinReady;
  if (!ok) {
    throw new Error(
      `Aladin Lite could not start (WebGL2 is required): ${initErr}`
    );
  }
  await waitForSize(container);
  // for tests: data-layers, data-selection, data-selecting, data-clicked
  const testTarget = options.testTarget || container.parentElement || container;

  let survey = options.survey || 'color';
  const [ra0, dec0] = Array.isArray(options.target) ? options.target : [0, 0];
  const dark = document.body && document.body.dataset.jpThemeLight === 'false';
  const aladin = A.aladin(container, {
    survey: hipsUrl(base, survey),
    hipsList: [], // no default list of CDS surveys (and no MocServer look-ups for it)
    target: targetString([finite(ra0, 0), finite(dec0, 0)]),
    fov: finite(options.fov, 0.1),
    projection: 'SIN',
    cooFrame: 'ICRS',
    log: false, // no startup ping to the CDS logger
    samp: false,
    mode: dark ? 'dark' : 'light',
    showLayersControl: false, // its HiPS browser queries the CDS MocServer
    showSettingsControl: false,
    showShareControl: false,
    showSimbadPointerControl: false,
    showColorPickerControl: false,
    showContextMenu: false, // Simbad/VizieR/NED queries live there
    showProjectionControl: false,
    showCooGridControl: true,
    showFullscreenControl: true,
    showFrame: false,
    showCooLocation: true,
    showFov: true,
    showZoomControl: true,
    showStatusBar: true,
    showReticle: false,
    reticleColor: '#ff4081'
  });

  const publishLayers = () => {
    const summary = {};
    for (const [name, l] of layers) {
      summary[name] = { kind: l.kind, n: l.n, drawn: l.drawn };
    }
    testTarget.dataset.layers = JSON.stringify(summary);
  };
  const reportError = message => {
    status(message);
    send({ type: 'error', message });
  };

  // ---- the view: where it is
  // Aladin reports pans and zooms made with the mouse, not gotoRaDec/setFoV: a move made here
  // is reported (and announced to linked views) by calling onMoved itself
  const setTarget = (ra, dec) => {
    const [cra, cdec] = aladin.getRaDec();
    if (angularDistance(ra, dec, cra, cdec) > 1e-9) {
      aladin.gotoRaDec(ra, dec);
      onMoved();
    }
  };
  const setFov = fov => {
    if (
      Number.isFinite(fov) &&
      fov > 0 &&
      Math.abs(aladin.getFov()[0] - fov) > 1e-9 * Math.max(fov, 1e-9)
    ) {
      aladin.setFoV(fov);
      onMoved();
    }
  };
  const setSurvey = hipsId => {
    survey = hipsId;
    aladin.setBaseImageLayer(
      A.HiPS(hipsUrl(base, hipsId), { name: `lsstbox ${hipsId}` })
    );
  };
  const getView = () => {
    const [ra, dec] = aladin.getRaDec();
    return { ra, dec, fov: aladin.getFov()[0], survey };
  };

  // ---- linked views: a window event, across bundles (sky panels, widgets, image viewers)
  let linked = false;
  let group = 'default';
  let lastLinked = null; // the last position announced or followed: not announced again
  const sameAsLinked = (ra, dec, fov) =>
    lastLinked !== null &&
    angularDistance(ra, dec, lastLinked.ra, lastLinked.dec) <=
      1e-3 * Math.max(fov, 1e-9) &&
    (!(lastLinked.fov > 0) ||
      Math.abs(fov - lastLinked.fov) <= 1e-3 * Math.max(fov, 1e-9));
  const announce = () => {
    const { ra, dec, fov } = getView();
    if (sameAsLinked(ra, dec, fov)) {
      return; // where another view put us: no echo
    }
    lastLinked = { ra, dec, fov };
    window.dispatchEvent(
      new CustomEvent(VIEW_EVENT, {
        detail: { source: id, group, ra, dec, fov }
      })
    );
  };
  const onViewEvent = event => {
    const d = event && event.detail;
    if (
      !linked ||
      destroyed ||
      !d ||
      d.source === id ||
      d.group !== group ||
      !Number.isFinite(d.ra) ||
      !Number.isFinite(d.dec)
    ) {
      return;
    }
    const fov = Number.isFinite(d.fov) && d.fov > 0 ? d.fov : null;
    lastLinked = { ra: d.ra, dec: d.dec, fov };
    setTarget(d.ra, d.dec);
    if (fov !== null) {
      setFov(fov);
    }
  };
  window.addEventListener(VIEW_EVENT, onViewEvent);
  const link = (enabled, linkGroup = 'default') => {
    linked = Boolean(enabled);
    group = String(linkGroup || 'default');
    lastLinked = null;
    if (linked) {
      announce(); // the others come here (as an image viewer does when linked)
    }
  };

  // ---- the view moved: reported 250 ms after the last pan or zoom
  let viewTimer = null;
  function onMoved() {
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => {
      const { ra, dec, fov } = getView();
      send({ type: 'view', ra, dec, fov });
      if (linked) {
        announce();
      }
    }, 250);
  }
  aladin.on('positionChanged', onMoved);
  aladin.on('zoomChanged', onMoved);

  // ---- selection and clicks
  const rowOf = obj =>
    obj && typeof obj.lsstboxRow === 'number' ? obj.lsstboxRow : null;
  const layerOf = obj => {
    if (!obj) {
      return null;
    }
    const owner =
      obj.catalog || obj.overlay || (obj.getCatalog && obj.getCatalog());
    return owner && layers.has(owner.name) ? owner.name : null;
  };
  const selectionFrom = (shape, groups) => {
    let region;
    if (shape.label === 'circle') {
      const [ra, dec] = aladin.pix2world(shape.x, shape.y);
      const [era, edec] = aladin.pix2world(shape.x + shape.r, shape.y);
      region = {
        type: 'circle',
        ra,
        dec,
        radius: angularDistance(ra, dec, era, edec)
      };
    } else {
      const { x, y, w, h } = shape.bbox();
      const corners = [
        [x, y],
        [x + w, y],
        [x + w, y + h],
        [x, y + h]
      ];
      region = {
        type: 'rect',
        vertices: corners.map(([px, py]) => aladin.pix2world(px, py))
      };
    }
    const indices = {};
    for (const g of groups || []) {
      for (const obj of g) {
        const layer = layerOf(obj);
        const row = rowOf(obj);
        if (layer !== null && row !== null) {
          (indices[layer] = indices[layer] || []).push(row);
        }
      }
    }
    for (const [name, l] of layers) {
      if (l.kind !== 'moc') {
        indices[name] = (indices[name] || []).sort((a, b) => a - b);
      }
    }
    return { region, indices };
  };
  const startSelection = mode => {
    const m = mode === 'circle' ? 'circle' : 'rect';
    testTarget.dataset.selecting = m;
    aladin.select(m, (shape, groups) => {
      delete testTarget.dataset.selecting;
      setTimeout(() => aladin.showReticle(false), 0); // Aladin shows it again after a selection
      const { region, indices } = selectionFrom(shape, groups);
      const counts = Object.fromEntries(
        Object.entries(indices).map(([k, v]) => [k, v.length])
      );
      testTarget.dataset.selection = JSON.stringify(counts);
      status(
        `selected: ${Object.entries(counts)
          .map(([k, v]) => `${v} in ${k}`)
          .join(', ')}`
      );
      send({ type: 'selection', region, indices });
    });
  };
  const clearSelection = () => {
    aladin.selectObjects(null);
    delete testTarget.dataset.selection;
    delete testTarget.dataset.highlighted;
  };
  // Highlight rows (indices as sent in add_catalog/add_footprints) of a layer, as a selection in
  // the view does, without reporting a selection back (a linked table drives it). An empty list
  // clears the highlight. Returns the number of objects highlighted.
  // (Aladin's own aladin.selectObjects(list) drops every catalog's objects: go to its view.)
  const selectRows = (name, rows) => {
    const l = layers.get(name);
    const items = l && Array.isArray(l.items) ? l.items : null;
    const chosen = [];
    if (items) {
      for (const r of rows || []) {
        const i = Number(r);
        if (Number.isInteger(i) && i >= 0 && i < items.length) {
          chosen.push(items[i]);
        }
      }
    }
    aladin.view.unselectObjects();
    if (chosen.length) {
      aladin.view.selectObjects([chosen]);
    }
    aladin.view.requestRedraw();
    testTarget.dataset.highlighted = JSON.stringify({ [name]: chosen.length });
    return chosen.length;
  };
  // Aladin highlights the selected sources only when an objectsSelected callback is set.
  aladin.on('objectsSelected', () => {});
  const onObjectClicked = obj => {
    const layer = layerOf(obj);
    const row = rowOf(obj);
    if (layer === null || row === null) {
      return;
    }
    const ra = obj.ra !== undefined ? obj.ra : null;
    const dec = obj.dec !== undefined ? obj.dec : null;
    status(`clicked: ${layer} row ${row}`); // the kernel answers with its id
    testTarget.dataset.clicked = `${layer}:${row}`;
    send({ type: 'clicked', layer, index: row, ra, dec });
  };
  // called for catalog sources and footprints alike (footprintClicked would repeat it)
  aladin.on('objectClicked', onObjectClicked);

  // ---- layers
  const removeLayer = name => {
    const l = layers.get(name);
    if (l) {
      aladin.removeOverlay(l.obj);
      layers.delete(name);
      publishLayers();
    }
  };
  const markDrawn = async (name, t0) => {
    await nextFrames(2);
    const l = layers.get(name);
    if (!l) {
      return;
    }
    l.drawn = true;
    publishLayers();
    const t1 = performance.now();
    // epoch milliseconds too: the kernel splits its latency into transport and drawing
    const epoch = performance.timeOrigin;
    send({
      type: 'drawn',
      layer: name,
      n: l.n,
      ms: t1 - t0,
      received: epoch + t0,
      drawn: epoch + t1
    });
  };
  const handlers = {
    add_catalog(msg, buffers) {
      const t0 = performance.now();
      // float32 offsets from msg.ref (compact: 8 bytes a row) or float64 positions
      let ra;
      let dec;
      if (msg.coords === 'f32-offsets') {
        const [ra0, dec0] = msg.ref;
        const dra = typed(Float32Array, buffers[0]);
        const ddec = typed(Float32Array, buffers[1]);
        ra = new Float64Array(dra.length);
        dec = new Float64Array(dra.length);
        for (let i = 0; i < dra.length; i++) {
          ra[i] = (ra0 + dra[i] + 360) % 360;
          dec[i] = dec0 + ddec[i];
        }
      } else {
        ra = typed(Float64Array, buffers[0]);
        dec = typed(Float64Array, buffers[1]);
      }
      removeLayer(msg.layer);
      const cat = A.catalog({
        name: msg.layer,
        color: msg.color,
        sourceSize: msg.size,
        shape: msg.shape
      });
      aladin.addCatalog(cat);
      // ids stay with the sender: a click or a selection reports row numbers
      const data = {};
      const sources = new Array(ra.length);
      for (let i = 0; i < ra.length; i++) {
        const s = A.source(ra[i], dec[i], data);
        s.lsstboxRow = i;
        sources[i] = s;
      }
      cat.addSources(sources);
      layers.set(msg.layer, {
        kind: 'catalog',
        obj: cat,
        n: ra.length,
        drawn: false,
        items: sources
      });
      publishLayers();
      markDrawn(msg.layer, t0);
    },
    add_moc(msg, buffers) {
      const t0 = performance.now();
      removeLayer(msg.layer);
      const mocOptions = {
        name: msg.layer,
        color: msg.color,
        opacity: msg.opacity,
        lineWidth: msg.line_width,
        fill: msg.fill,
        edge: true
      };
      const source =
        msg.source === 'buffer'
          ? typed(Uint8Array, buffers[0]).slice().buffer
          : mocUrl(base, msg.ref);
      const moc = A.MOCFromURL(
        source,
        mocOptions,
        () => markDrawn(msg.layer, t0),
        () =>
          reportError(
            `MOC ${msg.layer}: could not load ${msg.ref || 'the given MOC'}`
          )
      );
      aladin.addMOC(moc);
      layers.set(msg.layer, { kind: 'moc', obj: moc, n: 1, drawn: false });
      publishLayers();
    },
    add_footprints(msg, buffers) {
      const t0 = performance.now();
      const coords = typed(Float64Array, buffers[0]); // ra0, dec0, ra1, dec1, ...
      const offsets = typed(Int32Array, buffers[1]); // vertex offsets, n + 1
      removeLayer(msg.layer);
      const overlay = A.graphicOverlay({
        name: msg.layer,
        color: msg.color,
        lineWidth: msg.line_width
      });
      aladin.addOverlay(overlay);
      const items = [];
      for (let k = 0; k + 1 < offsets.length; k++) {
        const vertices = [];
        for (let v = offsets[k]; v < offsets[k + 1]; v++) {
          vertices.push([coords[2 * v], coords[2 * v + 1]]);
        }
        const poly = A.polygon(vertices, { color: msg.color });
        poly.lsstboxRow = k;
        items.push(poly);
      }
      overlay.addFootprints(items);
      layers.set(msg.layer, {
        kind: 'footprints',
        obj: overlay,
        n: items.length,
        drawn: false,
        items
      });
      publishLayers();
      markDrawn(msg.layer, t0);
    },
    clicked_label(msg) {
      status(`clicked: ${msg.text}`);
    },
    remove_layer(msg) {
      removeLayer(msg.layer);
    },
    start_selection(msg) {
      startSelection(msg.mode);
    },
    clear_selection() {
      clearSelection();
    },
    select_rows(msg) {
      selectRows(msg.layer, msg.rows);
    }
  };
  const handle = (msg, buffers) => {
    if (!msg || typeof msg !== 'object') {
      return;
    }
    const fn = Object.prototype.hasOwnProperty.call(handlers, msg.type)
      ? handlers[msg.type]
      : null;
    if (!fn) {
      return;
    }
    try {
      fn(msg, buffers || []);
    } catch (err) {
      reportError(`${msg.type} ${msg.layer || ''}: ${err}`);
    }
  };

  const destroy = () => {
    if (destroyed) {
      return;
    }
    destroyed = true;
    linked = false;
    clearTimeout(viewTimer);
    window.removeEventListener(VIEW_EVENT, onViewEvent);
    container.replaceChildren();
  };

  publishLayers();
  return {
    id,
    aladin,
    layers,
    handle,
    setTarget,
    setFov,
    setSurvey,
    getView,
    startSelection,
    clearSelection,
    selectRows,
    link,
    get linked() {
      return linked;
    },
    destroy
  };
}
