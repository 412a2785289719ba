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
