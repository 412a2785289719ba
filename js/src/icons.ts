import { LabIcon } from '@jupyterlab/ui-components';

/**
 * A small telescope on a tripod.  The `jp-icon3` class lets JupyterLab
 * recolour it for light and dark themes.
 */
const telescopeSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3.2 11.3 15.9 5.1l2.1 4.4-12.7 6.2z"/>
    <path d="M16.9 4.1 20.5 2.3l2.7 5.6-3.6 1.8z"/>
    <path d="M.8 12.6l2.1-1 1.4 2.9-2.1 1z"/>
    <path d="M11 13.6h2v1.5l3.9 6.8-1.7 1-2.2-3.8V23h-2v-3.9l-2.2 3.8-1.7-1L11 15.1z"/>
  </g>
</svg>`;

export const telescopeIcon = new LabIcon({
  name: 'lsstbox:telescope',
  svgstr: telescopeSvg
});

/** A stack of discs (a database) with a magnifier: the catalog browser. */
const catalogSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M9 2C4.9 2 2 3.3 2 5v12c0 1.7 2.9 3 7 3 .9 0 1.8-.1 2.6-.2a6.9 6.9 0 0 1-.9-2c-.5.1-1.1.2-1.7.2-3.3 0-5-1-5-1.4v-2.5c1.3.7 3.1 1.1 5 1.1h.9a7 7 0 0 1 1.1-2.1c-.6.1-1.3.1-2 .1-3.3 0-5-1-5-1.4V8.3C5.3 9 7.1 9.4 9 9.4s3.7-.4 5-1.1v1.9a7 7 0 0 1 2-.2V5c0-1.7-2.9-3-7-3zm0 5.4C5.7 7.4 4 6.4 4 6s1.7-1.4 5-1.4 5 1 5 1.4-1.7 1.4-5 1.4z"/>
    <path d="M17 11a5 5 0 0 0-4.2 7.7L10 21.5l1.5 1.5 2.8-2.8A5 5 0 1 0 17 11zm0 8a3 3 0 1 1 0-6 3 3 0 0 1 0 6z"/>
  </g>
</svg>`;

export const catalogIcon = new LabIcon({
  name: 'lsstbox:catalog',
  svgstr: catalogSvg
});

/** A page with "SQL" lines: an ADQL query. */
const querySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M5 2h10l5 5v15H5zm9 1.5V8h4.5zM7 11v1.6h10V11zm0 3.2v1.6h7v-1.6zm0 3.2V19h9v-1.6z"/>
  </g>
</svg>`;

export const queryIcon = new LabIcon({
  name: 'lsstbox:adql-query',
  svgstr: querySvg
});

/** A globe with a grid: the HiPS sky panel. */
const skySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm7.9 9h-3.4a15 15 0 0 0-1.3-5.6A8 8 0 0 1 19.9 11zM12 4c.9 1 2.3 3.6 2.5 7h-5C9.7 7.6 11.1 5 12 4zM8.8 5.4A15 15 0 0 0 7.5 11H4.1a8 8 0 0 1 4.7-5.6zM4.1 13h3.4a15 15 0 0 0 1.3 5.6A8 8 0 0 1 4.1 13zM12 20c-.9-1-2.3-3.6-2.5-7h5c-.2 3.4-1.6 6-2.5 7zm3.2-1.4a15 15 0 0 0 1.3-5.6h3.4a8 8 0 0 1-4.7 5.6z"/>
  </g>
</svg>`;

export const skyIcon = new LabIcon({
  name: 'lsstbox:sky',
  svgstr: skySvg
});
