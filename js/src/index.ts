import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { catalogPlugin } from './catalogPlugin';
import { telescopeIcon } from './icons';
import { imagePlugin } from './imagePlugin';
import { ReleaseModel } from './model';
import { skyPlugin } from './skyPlugin';
import { CommandIDs, PLUGIN_ID } from './tokens';
import { ReleasePanel } from './widget';

const PALETTE_CATEGORY = 'LSST box';

/**
 * Adds the "LSST box" release panel to the left sidebar and the
 * `lsstbox:open-release-panel` command to the palette.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A left sidebar panel showing the lsstbox data release: catalogs, images, HiPS, Butler and services.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const model = new ReleaseModel(app.serviceManager.serverSettings);
    const panel = new ReleasePanel(model);
    panel.title.icon = telescopeIcon;

    app.shell.add(panel, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }

    app.commands.addCommand(CommandIDs.openReleasePanel, {
      label: 'Show LSST box release',
      caption: 'Open the LSST box panel with the data release summary',
      icon: args => (args['isPalette'] ? undefined : telescopeIcon),
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });

    app.commands.addCommand(CommandIDs.refreshRelease, {
      label: 'Refresh LSST box release',
      caption: 'Reload the data release manifest from the server',
      execute: async () => {
        app.shell.activateById(panel.id);
        await model.refresh();
      }
    });

    if (palette) {
      palette.addItem({
        command: CommandIDs.openReleasePanel,
        category: PALETTE_CATEGORY
      });
      palette.addItem({
        command: CommandIDs.refreshRelease,
        category: PALETTE_CATEGORY
      });
    }
  }
};

export default [plugin, catalogPlugin, imagePlugin, skyPlugin];
