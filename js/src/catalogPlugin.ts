/**
 * The catalog browser plugin: the sidebar panel, ADQL editors and result
 * grids in the main area, their palette commands and layout restoration.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Widget } from '@lumino/widgets';

import { sql } from '@codemirror/lang-sql';

import { ADQL, AdqlPanel, tableQuery } from './adql';
import { CatalogBrowser, ICatalogActions } from './catalog';
import { ResultGrid } from './grid';
import { catalogIcon, queryIcon } from './icons';
import { BOX_SERVICE, editorDefaults, servicePath } from './settings';
import { TapClient } from './tap';
import { CATALOG_PLUGIN_ID, CommandIDs } from './tokens';

const PALETTE_CATEGORY = 'LSST box';
const LAUNCHER_CATEGORY = 'LSST box';

/** A result grid on its own in the main area (reopened from the job list). */
class ResultPanel extends ResultGrid {}

export const catalogPlugin: JupyterFrontEndPlugin<void> = {
  id: CATALOG_PLUGIN_ID,
  description:
    'The catalog browser: TAP tables and columns, ADQL editors, async jobs and their results in a grid.',
  autoStart: true,
  requires: [IEditorServices],
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    INotebookTracker,
    IThemeManager,
    IEditorLanguageRegistry,
    ISettingRegistry,
    ILauncher
  ],
  activate: (
    app: JupyterFrontEnd,
    editorServices: IEditorServices,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    themes: IThemeManager | null,
    languages: IEditorLanguageRegistry | null,
    settingRegistry: ISettingRegistry | null,
    launcher: ILauncher | null
  ) => {
    // ADQL highlighting for .adql files and ```adql blocks in Markdown
    languages?.addLanguage({
      name: 'ADQL',
      displayName: 'ADQL',
      mime: 'text/x-adql',
      extensions: ['adql'],
      support: sql({ dialect: ADQL, upperCaseKeywords: true })
    });

    const client = new TapClient(app.serviceManager.serverSettings);

    // the settings apply to editors opened afterwards
    let defaults = editorDefaults(null);
    if (settingRegistry) {
      void settingRegistry
        .load(CATALOG_PLUGIN_ID)
        .then(settings => {
          const update = () => {
            defaults = editorDefaults(
              settings.composite as Record<string, unknown>
            );
          };
          update();
          settings.changed.connect(update);
        })
        .catch(reason => {
          console.warn(
            'lsstbox: cannot load the catalog browser settings',
            reason
          );
        });
    }
    const clients = new Map<string, TapClient>([[BOX_SERVICE, client]]);
    const clientOf = (service: string): TapClient => {
      let known = clients.get(service);
      if (!known) {
        known = new TapClient(
          app.serviceManager.serverSettings,
          servicePath(service)
        );
        clients.set(service, known);
      }
      return known;
    };
    const editors = new WidgetTracker<AdqlPanel>({ namespace: 'lsstbox-adql' });
    const results = new WidgetTracker<ResultPanel>({
      namespace: 'lsstbox-result'
    });

    const showNotebook = (notebook: Widget) => {
      app.shell.activateById(notebook.id);
    };
    const showOnSky = (jobId: string) =>
      void app.commands.execute(CommandIDs.skyShowJob, { jobId });

    const currentEditor = (): AdqlPanel | null => {
      const current = app.shell.currentWidget;
      if (current instanceof AdqlPanel) {
        return current;
      }
      return editors.currentWidget;
    };

    const actions: ICatalogActions = {
      openQuery: query => {
        void app.commands.execute(CommandIDs.newAdqlQuery, { query });
      },
      openTable: table => {
        void app.commands.execute(CommandIDs.newAdqlQuery, {
          query: tableQuery(table)
        });
      },
      insertText: text => {
        const editor = currentEditor();
        if (!editor) {
          return false;
        }
        app.shell.activateById(editor.id);
        editor.insertText(text);
        return true;
      },
      openResult: jobId => {
        void app.commands.execute(CommandIDs.openJobResult, { jobId });
      }
    };

    const browser = new CatalogBrowser(client, actions);
    app.shell.add(browser, 'left', { rank: 860 });
    if (restorer) {
      restorer.add(browser, browser.id);
    }

    browser.tree.schemaLoaded.connect((_, schema) => {
      editors.forEach(editor => editor.setSchema(schema));
    });

    app.commands.addCommand(CommandIDs.openCatalogBrowser, {
      label: args =>
        args['isLauncher'] ? 'Catalog browser' : 'Open catalog browser',
      caption:
        'Show the TAP tables and columns, the ADQL editor and your query history',
      icon: args => (args['isPalette'] ? undefined : catalogIcon),
      execute: () => {
        app.shell.activateById(browser.id);
      }
    });

    app.commands.addCommand(CommandIDs.newAdqlQuery, {
      label: args =>
        args['query'] || args['isLauncher'] ? 'ADQL query' : 'New ADQL query',
      caption: 'Open an ADQL editor on the LSST box TAP service',
      icon: args => (args['isPalette'] ? undefined : queryIcon),
      execute: args => {
        const query = typeof args['query'] === 'string' ? args['query'] : '';
        const key = typeof args['key'] === 'string' ? args['key'] : undefined;
        const open = key ? editors.find(w => w.key === key) : undefined;
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        if (!browser.tree.schema) {
          // completion needs the tables: the sidebar may never have been opened
          void browser.tree.refresh();
        }
        const service = defaults.service;
        const panel = new AdqlPanel({
          client: clientOf(service),
          editorServices,
          maxrec: defaults.maxrec,
          serviceLabel:
            service === BOX_SERVICE ? undefined : `${service} (proxy)`,
          schema: browser.tree.schema,
          query,
          key,
          notebooks,
          showNotebook,
          showOnSky
        });
        panel.jobsChanged.connect(() => void browser.jobs.refresh());
        let saving = 0;
        panel.queryChanged.connect(() => {
          window.clearTimeout(saving);
          saving = window.setTimeout(() => void editors.save(panel), 1000);
        });
        app.shell.add(panel, 'main');
        void editors.add(panel);
        app.shell.activateById(panel.id);
        return panel;
      }
    });

    app.commands.addCommand(CommandIDs.runQuery, {
      label: 'Run ADQL query',
      caption: 'Run the query of the current ADQL editor as an async TAP job',
      isEnabled: () => currentEditor() !== null,
      execute: async () => {
        const editor = currentEditor();
        if (editor) {
          await editor.run();
        }
      }
    });

    app.commands.addCommand(CommandIDs.openJobResult, {
      label: args =>
        args['jobId']
          ? `TAP job ${String(args['jobId'])}`
          : 'Open TAP job result',
      caption: 'Show the result of an async TAP job in a grid',
      execute: args => {
        const jobId = String(args['jobId'] ?? '');
        if (!jobId) {
          return null;
        }
        const open = results.find(w => w.jobId === jobId);
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const grid = new ResultPanel({
          client,
          jobId,
          notebooks,
          showNotebook,
          showOnSky
        });
        grid.id = `lsstbox-result-${jobId}`;
        grid.title.label = `Result ${jobId}`;
        grid.title.caption = client.jobUrl(jobId);
        grid.title.icon = queryIcon;
        grid.title.closable = true;
        app.shell.add(grid, 'main');
        void results.add(grid);
        app.shell.activateById(grid.id);
        return grid;
      }
    });

    if (restorer) {
      void restorer.restore(editors, {
        command: CommandIDs.newAdqlQuery,
        args: panel => ({ query: panel.query, key: panel.key }),
        name: panel => panel.key
      });
      void restorer.restore(results, {
        command: CommandIDs.openJobResult,
        args: grid => ({ jobId: grid.jobId }),
        name: grid => grid.jobId
      });
    }

    if (themes) {
      themes.themeChanged.connect(() => {
        // the canvas takes colours, not CSS variables: read them again
        requestAnimationFrame(() => {
          results.forEach(grid => grid.updateStyle());
          editors.forEach(editor => editor.grid?.updateStyle());
        });
      });
    }

    if (launcher) {
      launcher.add({
        command: CommandIDs.newAdqlQuery,
        args: { isLauncher: true },
        category: LAUNCHER_CATEGORY,
        rank: 1
      });
      launcher.add({
        command: CommandIDs.openCatalogBrowser,
        args: { isLauncher: true },
        category: LAUNCHER_CATEGORY,
        rank: 2
      });
    }

    if (palette) {
      for (const command of [
        CommandIDs.openCatalogBrowser,
        CommandIDs.newAdqlQuery,
        CommandIDs.runQuery
      ]) {
        palette.addItem({ command, category: PALETTE_CATEGORY });
      }
    }
  }
};
