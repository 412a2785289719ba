/**
 * Notebook variables drawn over an image: the image viewer gets the link
 * bar (notebook, variable, Draw); the rows the kernel sends are drawn at
 * their RA/Dec, redrawn when a cell changes the variable, a click on a
 * source shows its row (asked from the kernel), and rows selected in a
 * linked plot of the same table (`select_rows`) are highlighted.
 */

import { INotebookTracker } from '@jupyterlab/notebook';

import { messageOf } from './dom';
import { ImageViewer } from './imageViewer';
import { ILinkPayload } from './link';
import { LinkBar } from './linkBar';
import { decodePositions } from './skyModel';

let counter = 0;

/** Give `viewer` a link bar to the notebooks of `tracker`. */
export function linkImageViewer(
  viewer: ImageViewer,
  tracker: INotebookTracker
): LinkBar {
  const panelId = `lsstbox-image-link-${++counter}`;
  viewer.node.dataset.linkPanel = panelId;
  let layer: string | null = null;
  // the sources being drawn: a selection sent after them waits for them
  let drawn: Promise<unknown> = Promise.resolve();

  const onPayload = ({ msg, buffers }: ILinkPayload) => {
    if (msg.type === 'add_catalog' && typeof msg.layer === 'string') {
      try {
        const { ra, dec } = decodePositions(msg, buffers);
        layer = msg.layer;
        const drawing = viewer.setSources(ra, dec);
        drawn = drawing.catch(() => undefined);
        void drawing
          .then(n => {
            viewer.node.dataset.linkedLayer = `${layer}:${n}`;
          })
          .catch(error => viewer.notify(messageOf(error)));
      } catch (error) {
        viewer.notify(messageOf(error));
      }
    } else if (msg.type === 'remove_layer' && msg.layer === layer) {
      viewer.clearSources();
      layer = null;
      delete viewer.node.dataset.linkedLayer;
    } else if (
      msg.type === 'select_rows' &&
      layer !== null &&
      msg.layer === layer
    ) {
      // rows selected in another view of the same table (a linked plot)
      const rows = Array.isArray(msg.rows) ? (msg.rows as number[]) : [];
      const want = layer;
      void drawn.then(() => {
        if (layer === want) {
          viewer.highlightSources(rows);
        }
      });
      if (msg.message) {
        viewer.notify(String(msg.message));
      }
    } else if (msg.type === 'notice' && msg.message) {
      viewer.notify(String(msg.message));
    }
  };

  const bar = new LinkBar({
    tracker,
    panelId,
    acceptBroadcast: false,
    onPayload,
    onNotice: text => viewer.notify(text)
  });
  viewer.addToolbarItem(bar.node);

  viewer.sourceSelected.connect((_, selection) => {
    if (!selection || layer === null) {
      return;
    }
    bar
      .request({ type: 'row', layer, index: selection.index })
      .then(({ msg }) => {
        const row = (msg.row ?? {}) as Record<string, unknown>;
        const text = Object.entries(row)
          .slice(0, 8)
          .map(([k, v]) => `${k}=${v === null ? '' : String(v)}`)
          .join('  ');
        viewer.notify(`${layer} row ${selection.index}: ${text}`);
        viewer.node.dataset.linkedRow = JSON.stringify(row);
      })
      .catch(error => viewer.notify(messageOf(error)));
  });
  viewer.disposed.connect(() => bar.dispose());
  return bar;
}

/** The window event linked sky views and image viewers move each other with. */
export const VIEW_EVENT = 'lsstbox:sky-view';

/** What a linked view announces: its centre and field of view (degrees). */
export interface IViewEventDetail {
  source: string;
  group: string;
  ra: number;
  dec: number;
  fov: number;
}

/**
 * Give `viewer` a "Link views" box: when ticked, panning or zooming the
 * image moves the other linked views (sky panels, SkyView widgets, image
 * viewers) there, and their moves centre the image (the scale follows their
 * field of view).  Returns the checkbox.
 */
export function followViews(
  viewer: ImageViewer,
  group = 'default'
): HTMLInputElement {
  const source = `image-${++counter}`;
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.dataset.testid = 'lsstbox-image-link-views';
  const label = document.createElement('label');
  label.className = 'lsstbox-ImageViewer-label';
  label.title =
    'Follow the other linked sky panels, SkyView widgets and image viewers';
  label.append(box, 'Link views');
  viewer.addToolbarItem(label);

  let pixDeg = 0; // degrees per image pixel (from the WCS, once)
  let applying = false; // a move we made: not announced again (no echo)
  let timer = 0;
  const pixelScale = async (): Promise<number> => {
    if (!pixDeg) {
      const { x, y } = viewer.view;
      const w = await viewer.pixToSky([x, x + 1], [y, y]);
      const [r0, r1, d0, d1] = [w.ra[0], w.ra[1], w.dec[0], w.dec[1]];
      if (r0 === null || r1 === null || d0 === null || d1 === null) {
        throw new Error('this image has no sky coordinates');
      }
      const c = Math.cos((d0 * Math.PI) / 180);
      pixDeg = Math.hypot((((r1 - r0 + 540) % 360) - 180) * c, d1 - d0);
    }
    return pixDeg;
  };

  const announce = async () => {
    const { x, y, scale, width } = viewer.view;
    const [deg, w] = await Promise.all([
      pixelScale(),
      viewer.pixToSky([x], [y])
    ]);
    const [ra, dec] = [w.ra[0], w.dec[0]];
    if (ra === null || dec === null) {
      return;
    }
    const detail: IViewEventDetail = {
      source,
      group,
      ra,
      dec,
      fov: (width / scale) * deg
    };
    window.dispatchEvent(new CustomEvent(VIEW_EVENT, { detail }));
  };
  viewer.viewChanged.connect(() => {
    if (!box.checked || applying || viewer.state !== 'ready') {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(
      () => void announce().catch(e => viewer.notify(messageOf(e))),
      250
    );
  });

  const onEvent = (event: Event) => {
    const d = (event as CustomEvent<IViewEventDetail>).detail;
    if (!box.checked || !d || d.source === source || d.group !== group) {
      return;
    }
    void (async () => {
      applying = true;
      try {
        if (await viewer.centerOnSky(d.ra, d.dec)) {
          const deg = await pixelScale();
          const { x, y, width } = viewer.view;
          if (d.fov > 0 && deg > 0) {
            viewer.centerOn(x, y, width / (d.fov / deg));
          }
          viewer.node.dataset.followed = `${d.ra.toFixed(6)},${d.dec.toFixed(6)}`;
        }
      } catch (error) {
        viewer.notify(messageOf(error));
      } finally {
        window.setTimeout(() => {
          applying = false;
        }, 300);
      }
    })();
  };
  window.addEventListener(VIEW_EVENT, onEvent);
  box.addEventListener('change', () => {
    if (box.checked) {
      void announce().catch(() => undefined);
    }
  });
  viewer.disposed.connect(() => {
    window.removeEventListener(VIEW_EVENT, onEvent);
    window.clearTimeout(timer);
  });
  return box;
}
