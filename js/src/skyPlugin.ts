/**
 * The sky panel plugin: `lsstbox:open-sky-panel` (palette, launcher),
 * `lsstbox:sky-show-job` (the result grid's "Show on sky"), settings and
 * layout restoration (survey and view).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { skyIcon } from './icons';
import { ISkyState, SkyPanel } from './skyPanel';
import { TapClient } from './tap';
import { CommandIDs, SKY_PLUGIN_ID } from './tokens';

const CATEGORY = 'LSST box';

/** A number argument of a command, or undefined. */
function num(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number(value);
  return value === undefined ||
    value === null ||
    value === '' ||
    !Number.isFinite(n)
    ? undefined
    : n;
}

export const skyPlugin: JupyterFrontEndPlugin<void> = {
  id: SKY_PLUGIN_ID,
  description:
    'The HiPS sky panel: Aladin Lite over the release, MOC/footprint overlays, notebook variables and query results.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    launcher: ILauncher | null
  ) => {
    const tracker = new WidgetTracker<SkyPanel>({ namespace: 'lsstbox-sky' });
    const client = new TapClient(app.serviceManager.serverSettings);
    let defaults: Partial<ISkyState> = {};
    // panels opened (or restored) before the settings are read still get them
    const settingsLoaded = settingRegistry
      ? settingRegistry
          .load(SKY_PLUGIN_ID)
          .then(settings => {
            const update = () => {
              const c = settings.composite as Record<string, unknown>;
              defaults = {
                survey:
                  typeof c.defaultSurvey === 'string' ? c.defaultSurvey : '',
                fov: num(c.defaultFov)
              };
            };
            update();
            settings.changed.connect(update);
          })
          .catch(reason =>
            console.warn('lsstbox: cannot load the sky panel settings', reason)
          )
      : Promise.resolve();

    const open = async (
      state: Partial<ISkyState>,
      id?: string
    ): Promise<SkyPanel> => {
      await settingsLoaded;
      const panel = new SkyPanel({
        id,
        serverSettings: app.serviceManager.serverSettings,
        tracker: notebooks,
        commands: app.commands,
        client,
        state: {
          survey: state.survey || defaults.survey,
          fov: state.fov ?? defaults.fov,
          ra: state.ra,
          dec: state.dec
        }
      });
      panel.title.icon = skyIcon;
      let saving = 0;
      panel.stateChanged.connect(() => {
        window.clearTimeout(saving);
        saving = window.setTimeout(() => void tracker.save(panel), 500);
      });
      app.shell.add(panel, 'main');
      void tracker.add(panel);
      app.shell.activateById(panel.id);
      return panel;
    };

    app.commands.addCommand(CommandIDs.openSkyPanel, {
      label: args => (args['isLauncher'] ? 'Sky panel' : 'Open Sky Panel'),
      caption:
        'A HiPS sky panel (Aladin Lite) over the release: overlays, notebook variables, selections',
      icon: args => (args['isPalette'] ? undefined : skyIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            survey: {
              type: 'string',
              description: 'HiPS id (a band or "color")'
            },
            ra: { type: 'number', description: 'Centre RA (deg)' },
            dec: { type: 'number', description: 'Centre Dec (deg)' },
            fov: { type: 'number', description: 'Field of view (deg)' }
          }
        }
      },
      execute: args =>
        open(
          {
            survey:
              typeof args['survey'] === 'string' ? args['survey'] : undefined,
            ra: num(args['ra']),
            dec: num(args['dec']),
            fov: num(args['fov'])
          },
          typeof args['key'] === 'string' ? args['key'] : undefined
        )
    });

    app.commands.addCommand(CommandIDs.skyShowJob, {
      label: 'Show TAP job result on the sky',
      caption:
        'Draw the rows of a TAP job in the current sky panel (a new one if none)',
      execute: async args => {
        const jobId = String(args['jobId'] ?? '');
        if (!jobId) {
          return null;
        }
        const panel = tracker.currentWidget ?? (await open({}));
        app.shell.activateById(panel.id);
        await panel.showJob(jobId);
        return panel;
      }
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.openSkyPanel, category: CATEGORY });
    }
    if (launcher) {
      launcher.add({
        command: CommandIDs.openSkyPanel,
        args: { isLauncher: true },
        category: CATEGORY,
        rank: 3
      });
    }
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openSkyPanel,
        args: panel => ({ ...panel.state, key: panel.id }),
        name: panel => panel.id
      });
    }
  }
};

export default skyPlugin;
