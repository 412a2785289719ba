// SkyView: the front end of kernel_lib.widgets.sky.SkyView, an anywidget ESM module.
//
// Aladin Lite v3 (npm `aladin-lite`, LGPL-3.0) is bundled in by esbuild: no CDN. It is created
// with options that keep it off the network (no startup logger, no CDS default survey, no HiPS
// list from the MocServer, no Simbad/share/context-menu tools); every HiPS, MOC and catalog
// comes from the Jupyter server that serves this page (same origin, the Jupyter cookie
// authenticates).
//
// Protocol (custom widget messages):
//   kernel -> view  {type: 'add_catalog' | 'add_moc' | 'add_footprints' | 'remove_layer' |
//                    'start_selection' | 'clear_selection' | 'clicked_label', layer, view?, ...}
//                   + binary buffers (positions; ids stay in the kernel)
//   view -> kernel  {type: 'ready' | 'closed' | 'drawn' | 'selection' | 'clicked' | 'error', view, ...}
// The kernel queues what it sends until a view says 'ready'; a message with a `view` field is
// meant for that view only (a replay for a view rendered later).
import A from 'aladin-lite';
import './sky.css';

// Aladin's module initialiser (wasm + a WebGL2 probe) runs on import; catching here keeps a
// browser without WebGL2 from reporting an unhandled rejection.
let initError = null;
const aladinReady = A.init.then(
  () => true,
  err => {
    initError = String(err);
    return false;
  }
);

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
function hipsUrl(base, id) {
  return `${base}lsstbox/hips/${encodeURIComponent(id)}`;
}

function mocUrl(base, ref) {
  if (/^https?:\/\//.test(ref)) {
    return ref;
  }
  if (ref.startsWith('/')) {
    return new URL(ref, window.location.origin).href;
  }
  return `${base}lsstbox/moc/${encodeURIComponent(ref)}.fits`;
}

/** A typed array over a widget message buffer (a DataView, ArrayBuffer or typed array). */
function typed(Kind, buf) {
  if (buf instanceof Kind) {
    return buf;
  }
  const view = buf instanceof ArrayBuffer ? new DataView(buf) : buf;
  const { buffer, byteOffset, byteLength } = view;
  if (byteOffset % Kind.BYTES_PER_ELEMENT === 0) {
    return new Kind(buffer, byteOffset, byteLength / Kind.BYTES_PER_ELEMENT);
  }
  return new Kind(buffer.slice(byteOffset, byteOffset + byteLength));
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

function angularDistance(ra1, dec1, ra2, dec2) {
  const d2r = Math.PI / 180;
  const s =
    Math.sin(((dec2 - dec1) * d2r) / 2) ** 2 +
    Math.cos(dec1 * d2r) *
      Math.cos(dec2 * d2r) *
      Math.sin(((ra2 - ra1) * d2r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(s)))) / d2r;
}

function randomId() {
  return Math.random().toString(36).slice(2, 10);
}

function button(label, title, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'lsstbox-sky-button';
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

async function render({ model, el }) {
  const viewId = randomId();
  const base = jupyterBaseUrl();
  const layers = new Map(); // name -> {kind, obj, n, drawn}
  const cleanups = [];

  el.classList.add('lsstbox-sky');
  el.dataset.testid = 'lsstbox-sky';
  el.dataset.state = 'loading';
  el.dataset.view = viewId;
  const toolbar = document.createElement('div');
  toolbar.className = 'lsstbox-sky-toolbar';
  const surveySelect = document.createElement('select');
  surveySelect.className = 'lsstbox-sky-survey';
  surveySelect.title = 'HiPS map of the release';
  const container = document.createElement('div');
  container.className = 'lsstbox-sky-aladin';
  container.style.height = `${model.get('height')}px`;
  const status = document.createElement('div');
  status.className = 'lsstbox-sky-status';
  el.append(toolbar, container, status);

  const setStatus = text => {
    status.textContent = text;
  };
  const publishLayers = () => {
    const summary = {};
    for (const [name, l] of layers) {
      summary[name] = { kind: l.kind, n: l.n, drawn: l.drawn };
    }
    el.dataset.layers = JSON.stringify(summary);
  };
  const reportError = message => {
    setStatus(message);
    el.dataset.error = message;
    model.send({ type: 'error', view: viewId, message });
  };

  const ok = await aladinReady;
  if (!ok) {
    el.dataset.state = 'error';
    reportError(
      `Aladin Lite could not start (WebGL2 is required): ${initError}`
    );
    return () => {};
  }
  await waitForSize(container);

  const dark = document.body && document.body.dataset.jpThemeLight === 'false';
  const aladin = A.aladin(container, {
    survey: hipsUrl(base, model.get('survey')),
    hipsList: [], // no default list of CDS surveys (and no MocServer look-ups for it)
    target: targetString(model.get('target')),
    fov: model.get('fov'),
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

  // ---- traits: kernel -> view
  const applyTarget = () => {
    const [ra, dec] = model.get('target');
    const [cra, cdec] = aladin.getRaDec();
    if (angularDistance(ra, dec, cra, cdec) > 1e-9) {
      aladin.gotoRaDec(ra, dec);
    }
  };
  const applyFov = () => {
    const fov = model.get('fov');
    if (Math.abs(aladin.getFov()[0] - fov) > 1e-9 * Math.max(fov, 1e-9)) {
      aladin.setFoV(fov);
    }
  };
  const applySurvey = () => {
    const id = model.get('survey');
    surveySelect.value = id;
    aladin.setBaseImageLayer(
      A.HiPS(hipsUrl(base, id), { name: `lsstbox ${id}` })
    );
  };
  const applyHeight = () => {
    container.style.height = `${model.get('height')}px`;
  };
  const traitHandlers = [
    ['change:target', applyTarget],
    ['change:fov', applyFov],
    ['change:survey', applySurvey],
    ['change:height', applyHeight]
  ];
  for (const [event, fn] of traitHandlers) {
    model.on(event, fn);
    cleanups.push(() => model.off(event, fn));
  }

  // ---- traits: view -> kernel (debounced; a kernel-set value comes back unchanged)
  let syncTimer = null;
  const syncView = () => {
    clearTimeout(syncTimer);
    syncTimer = setTimeout(() => {
      const [ra, dec] = aladin.getRaDec();
      const fov = aladin.getFov()[0];
      const [mra, mdec] = model.get('target');
      let changed = false;
      if (angularDistance(ra, dec, mra, mdec) > 1e-7) {
        model.set('target', [ra, dec]);
        changed = true;
      }
      if (Math.abs(fov - model.get('fov')) > 1e-6 * fov) {
        model.set('fov', fov);
        changed = true;
      }
      if (changed) {
        model.save_changes();
      }
    }, 250);
  };
  aladin.on('positionChanged', syncView);
  aladin.on('zoomChanged', syncView);
  cleanups.push(() => clearTimeout(syncTimer));

  // ---- the survey chooser: the release's HiPS list from our own server
  fetch(`${base}lsstbox/hips/`, { credentials: 'same-origin' })
    .then(r => (r.ok ? r.json() : []))
    .then(list => {
      for (const h of list) {
        const opt = document.createElement('option');
        opt.value = h.id;
        opt.textContent = h.id;
        opt.title = h.title || h.id;
        surveySelect.append(opt);
      }
      surveySelect.value = model.get('survey');
    })
    .catch(() => {});
  surveySelect.addEventListener('change', () => {
    model.set('survey', surveySelect.value);
    model.save_changes();
  });

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
    for (const group of groups || []) {
      for (const obj of group) {
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
    el.dataset.selecting = m;
    aladin.select(m, (shape, groups) => {
      delete el.dataset.selecting;
      setTimeout(() => aladin.showReticle(false), 0); // Aladin shows it again after a selection
      const { region, indices } = selectionFrom(shape, groups);
      const counts = Object.fromEntries(
        Object.entries(indices).map(([k, v]) => [k, v.length])
      );
      el.dataset.selection = JSON.stringify(counts);
      setStatus(
        `selected: ${Object.entries(counts)
          .map(([k, v]) => `${v} in ${k}`)
          .join(', ')}`
      );
      model.send({ type: 'selection', view: viewId, region, indices });
    });
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
    setStatus(`clicked: ${layer} row ${row}`); // the kernel answers with its id
    el.dataset.clicked = `${layer}:${row}`;
    model.send({ type: 'clicked', view: viewId, layer, index: row, ra, dec });
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
    model.send({
      type: 'drawn',
      view: viewId,
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
      // ids stay in the kernel: a click or a selection reports row numbers
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
        drawn: false
      });
      publishLayers();
      markDrawn(msg.layer, t0);
    },
    add_moc(msg, buffers) {
      const t0 = performance.now();
      removeLayer(msg.layer);
      const options = {
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
        options,
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
        drawn: false
      });
      publishLayers();
      markDrawn(msg.layer, t0);
    },
    clicked_label(msg) {
      setStatus(`clicked: ${msg.text}`);
    },
    remove_layer(msg) {
      removeLayer(msg.layer);
    },
    start_selection(msg) {
      startSelection(msg.mode);
    },
    clear_selection() {
      aladin.selectObjects(null);
      delete el.dataset.selection;
    }
  };
  const onMessage = (msg, buffers) => {
    if (!msg || typeof msg !== 'object' || (msg.view && msg.view !== viewId)) {
      return;
    }
    const fn = handlers[msg.type];
    if (!fn) {
      return;
    }
    try {
      fn(msg, buffers || []);
    } catch (err) {
      reportError(`${msg.type} ${msg.layer || ''}: ${err}`);
    }
  };
  model.on('msg:custom', onMessage);
  cleanups.push(() => model.off('msg:custom', onMessage));

  toolbar.append(
    surveySelect,
    button(
      '▭ select',
      'Select the sources in a rectangle (drag in the view)',
      () => startSelection('rect')
    ),
    button(
      '◯ select',
      'Select the sources in a circle (drag from its centre)',
      () => startSelection('circle')
    ),
    button('clear', 'Clear the selection', () => handlers.clear_selection())
  );
  surveySelect.value = model.get('survey');
  // for tests and debugging in the browser console: $0.lsstboxSky.aladin
  el.lsstboxSky = { aladin, layers, viewId };
  el.dataset.state = 'ready';
  setStatus('');
  publishLayers();
  // Only now can the view apply what the kernel queued for it.
  model.send({ type: 'ready', view: viewId });

  return () => {
    for (const fn of cleanups) {
      fn();
    }
    model.send({ type: 'closed', view: viewId });
    delete el.lsstboxSky;
    container.replaceChildren();
  };
}

export default { render };
