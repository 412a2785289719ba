// SkyView: the front end of kernel_lib.widgets.sky.SkyView, an anywidget ESM module.
//
// A thin adapter over the sky core (skycore.js: Aladin Lite, its layers, selections and clicks,
// bundled into this file too): a toolbar (survey, selections, link), the traits and the widget
// messages.
//
// Protocol (custom widget messages):
//   kernel -> view  {type: 'add_catalog' | 'add_moc' | 'add_footprints' | 'remove_layer' |
//                    'start_selection' | 'clear_selection' | 'clicked_label' | 'select_rows',
//                    layer, view?, ...}   (select_rows: {layer, rows}, highlights those rows)
//                   + binary buffers (positions; ids stay in the kernel)
//   view -> kernel  {type: 'ready' | 'closed' | 'drawn' | 'selection' | 'clicked' | 'error', view, ...}
// The kernel queues what it sends until a view says 'ready'; a message with a `view` field is
// meant for that view only (a replay for a view rendered later).
import {
  angularDistance,
  closeView,
  messageOf,
  onModel,
  onViewMessages,
  randomId
} from './common.js';
import { createSky, jupyterBaseUrl, listSurveys } from './skycore.js';

export { jupyterBaseUrl };

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

  // ---- traits: view -> kernel (a kernel-set value comes back unchanged)
  const syncView = (ra, dec, fov) => {
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
  };

  // What the core reports: to the kernel, tagged with this view ('view' updates the traits).
  const send = msg => {
    if (msg.type === 'view') {
      syncView(msg.ra, msg.dec, msg.fov);
      return;
    }
    if (msg.type === 'error') {
      el.dataset.error = msg.message;
    }
    const { type, ...rest } = msg;
    model.send({ type, view: viewId, ...rest });
  };

  let core;
  try {
    core = await createSky(container, {
      base,
      survey: model.get('survey'),
      target: model.get('target'),
      fov: model.get('fov'),
      send,
      status: setStatus,
      testTarget: el
    });
  } catch (err) {
    el.dataset.state = 'error';
    const message = messageOf(err);
    setStatus(message);
    send({ type: 'error', message });
    return () => {};
  }

  // ---- traits: kernel -> view
  const applyTarget = () => {
    const [ra, dec] = model.get('target');
    core.setTarget(ra, dec);
  };
  const applyFov = () => core.setFov(model.get('fov'));
  const applySurvey = () => {
    const id = model.get('survey');
    surveySelect.value = id;
    core.setSurvey(id);
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
  onModel(model, traitHandlers, cleanups);

  // ---- the survey chooser: the release's HiPS list from our own server
  listSurveys(base).then(list => {
    for (const h of list) {
      const opt = document.createElement('option');
      opt.value = h.id;
      opt.textContent = h.id;
      opt.title = h.title || h.id;
      surveySelect.append(opt);
    }
    surveySelect.value = model.get('survey');
  });
  surveySelect.addEventListener('change', () => {
    model.set('survey', surveySelect.value);
    model.save_changes();
  });

  // ---- kernel -> view messages (one meant for another view is not ours)
  onViewMessages(
    model,
    viewId,
    (msg, buffers) => core.handle(msg, buffers),
    cleanups
  );

  const linkButton = button(
    '⛓ link',
    'Follow other linked sky views and image viewers',
    () => {
      core.link(!core.linked);
      linkButton.classList.toggle('lsstbox-sky-button-on', core.linked);
      linkButton.setAttribute('aria-pressed', String(core.linked));
    }
  );
  linkButton.setAttribute('aria-pressed', 'false');
  toolbar.append(
    surveySelect,
    button(
      '▭ select',
      'Select the sources in a rectangle (drag in the view)',
      () => core.startSelection('rect')
    ),
    button(
      '◯ select',
      'Select the sources in a circle (drag from its centre)',
      () => core.startSelection('circle')
    ),
    button('clear', 'Clear the selection', () => core.clearSelection()),
    linkButton
  );
  surveySelect.value = model.get('survey');
  // for tests and debugging in the browser console: $0.lsstboxSky.aladin
  el.lsstboxSky = { aladin: core.aladin, layers: core.layers, viewId, core };
  el.dataset.state = 'ready';
  setStatus('');
  // Only now can the view apply what the kernel queued for it.
  model.send({ type: 'ready', view: viewId });

  return () => {
    closeView(model, viewId, cleanups);
    delete el.lsstboxSky;
    core.destroy();
  };
}

export default { render };
