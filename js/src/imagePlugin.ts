/**
 * The image viewer plugin: FITS files open in the "LSST Image Viewer" from
 * the file browser, and the `lsstbox:open-image` command opens any image
 * the server can resolve (`file:`, `did:` or `butler:` sources).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import {
  ABCWidgetFactory,
  Base64ModelFactory,
  DocumentRegistry,
  DocumentWidget,
  IDocumentWidget
} from '@jupyterlab/docregistry';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { followViews, linkImageViewer } from './imageLink';
import { ImageViewer } from './imageViewer';
import { IViewerDefaults, VIEWER_DEFAULTS, viewerDefaults } from './settings';

/** The id of the image viewer plugin. */
export const IMAGE_PLUGIN_ID = '@lsstbox/jupyterlab:image-viewer';

/** Command ids of the image viewer. */
export namespace ImageCommandIDs {
  export const openImage = 'lsstbox:open-image';
}

/** The widget factory's name (shown in "Open With"). */
export const FITS_FACTORY = 'LSST Image Viewer';
/** The document model: the viewer never loads the file's bytes itself. */
const FITS_MODEL = 'lsstbox-fits';
const FITS_FILE_TYPE = 'fits';
const PALETTE_CATEGORY = 'LSST box';

const imageSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 3h18v18H3zm2 2v14h14V5z"/>
    <circle cx="9" cy="9" r="1.6"/>
    <circle cx="15.5" cy="7.5" r="1"/>
    <circle cx="14" cy="14" r="2.4"/>
    <circle cx="7.5" cy="16" r="1"/>
  </g>
</svg>`;

/** A framed star field: a FITS image. */
export const fitsIcon = new LabIcon({
  name: 'lsstbox:fits-image',
  svgstr: imageSvg
});

/** The `src` of a file under the Jupyter root. */
export function fileSrc(path: string): string {
  return `file:${path.replace(/^\/+/, '')}`;
}

/** A user's answer as a `src`: a bare path means a file. */
export function normaliseSrc(text: string): string {
  const value = text.trim();
  return /^(file|did|butler):/.test(value) ? value : fileSrc(value);
}

/**
 * A model that asks the Contents API for the file's metadata only: the
 * pixels come from `lsstbox/image/*`, so a large FITS file is never sent to
 * the browser.  Read-only.
 */
class FitsModelFactory extends Base64ModelFactory {
  get name(): string {
    return FITS_MODEL;
  }

  get fileFormat(): Contents.FileFormat {
    return null;
  }

  createNew(
    options: DocumentRegistry.IModelOptions<never> = {}
  ): DocumentRegistry.ICodeModel {
    const model = super.createNew({ ...options, collaborationEnabled: false });
    model.readOnly = true;
    return model;
  }
}

/**
 * The viewer only reads its file: its context never writes it (the model
 * holds no bytes, so a save could only fail) nor copies it into a checkpoint
 * on opening and on Ctrl+S (FITS files are often large).  Only viewers use
 * contexts of the `lsstbox-fits` model.
 */
function neverWrite(
  context: DocumentRegistry.IContext<DocumentRegistry.IModel>
) {
  const none = async (): Promise<void> => undefined;
  Object.assign(context, { save: none, createCheckpoint: none });
}

class FitsViewerFactory extends ABCWidgetFactory<IDocumentWidget<ImageViewer>> {
  constructor(
    options: DocumentRegistry.IWidgetFactoryOptions<
      IDocumentWidget<ImageViewer>
    >,
    private _serverSettings: ServerConnection.ISettings,
    private _defaults: () => IViewerDefaults = () => VIEWER_DEFAULTS
  ) {
    super(options);
  }

  protected createNewWidget(
    context: DocumentRegistry.IContext<DocumentRegistry.IModel>
  ): IDocumentWidget<ImageViewer> {
    neverWrite(context);
    const content = new ImageViewer({
      src: fileSrc(context.localPath),
      serverSettings: this._serverSettings,
      display: this._defaults()
    });
    const widget = new DocumentWidget({ content, context });
    widget.addClass('lsstbox-ImageDocument');
    widget.toolbar.hide(); // the viewer has its own
    widget.title.icon = fitsIcon;
    content.infoChanged.connect((_, info) => {
      if (info?.title) {
        widget.title.caption = `${info.title}\n${context.localPath}`;
      }
    });
    context.pathChanged.connect(() => {
      content.setSource(fileSrc(context.localPath));
    });
    return widget;
  }
}

/** The image viewer last focused (for the browser console and UI tests). */
const debugHook = window as unknown as { lsstboxImageViewer?: ImageViewer };

export const imagePlugin: JupyterFrontEndPlugin<void> = {
  id: IMAGE_PLUGIN_ID,
  description:
    'The LSST image viewer: FITS files, ObsCore datasets and Butler datasets rendered by the server, with pan, zoom, stretch, colormap, mask planes and source overlays.',
  autoStart: true,
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    ISettingRegistry,
    INotebookTracker
  ],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    notebooks: INotebookTracker | null
  ) => {
    const serverSettings = app.serviceManager.serverSettings;

    // the settings apply to viewers opened afterwards
    let defaults: IViewerDefaults = VIEWER_DEFAULTS;
    let settingsLoaded: Promise<void> = Promise.resolve();
    if (settingRegistry) {
      settingsLoaded = settingRegistry
        .load(IMAGE_PLUGIN_ID)
        .then(settings => {
          const update = () => {
            defaults = viewerDefaults(
              settings.composite as Record<string, unknown>
            );
          };
          update();
          settings.changed.connect(update);
        })
        .catch(reason => {
          console.warn(
            'lsstbox: cannot load the image viewer settings',
            reason
          );
        });
    }

    app.docRegistry.addModelFactory(new FitsModelFactory(false));
    app.docRegistry.addFileType({
      name: FITS_FILE_TYPE,
      displayName: 'FITS image',
      extensions: ['.fits', '.fit', '.fts', '.fits.gz', '.fits.fz', '.fz'],
      mimeTypes: ['image/fits', 'application/fits'],
      contentType: 'file',
      fileFormat: 'base64',
      icon: fitsIcon
    });
    const factory = new FitsViewerFactory(
      {
        name: FITS_FACTORY,
        label: 'LSST Image Viewer',
        modelName: FITS_MODEL,
        fileTypes: [FITS_FILE_TYPE],
        defaultFor: [FITS_FILE_TYPE],
        readOnly: true
      },
      serverSettings,
      () => defaults
    );
    app.docRegistry.addWidgetFactory(factory);

    // the viewer last created or focused, for the console and UI tests
    const expose = (viewer: ImageViewer | undefined) => {
      if (viewer && !viewer.isDisposed) {
        debugHook.lsstboxImageViewer = viewer;
      }
    };
    const created = (viewer: ImageViewer) => {
      followViews(viewer);
      if (notebooks) {
        linkImageViewer(viewer, notebooks);
      }
      viewer.disposed.connect(() => {
        if (debugHook.lsstboxImageViewer === viewer) {
          delete debugHook.lsstboxImageViewer;
        }
      });
      expose(viewer);
    };
    // FITS files opened from the file browser
    const documents = new WidgetTracker<IDocumentWidget<ImageViewer>>({
      namespace: 'lsstbox-fits'
    });
    factory.widgetCreated.connect((_, widget) => {
      created(widget.content);
      widget.context.pathChanged.connect(() => {
        void documents.save(widget);
      });
      void documents.add(widget);
    });

    // images opened by the command
    const images = new WidgetTracker<MainAreaWidget<ImageViewer>>({
      namespace: 'lsstbox-image'
    });

    documents.currentChanged.connect((_, w) => expose(w?.content));
    images.currentChanged.connect((_, w) => expose(w?.content));

    /** The titles given to the command (the others come from the server). */
    const titles = new WeakMap<MainAreaWidget<ImageViewer>, string>();
    let counter = 0;
    const openImage = (src: string, title?: string) => {
      const existing = images.find(w => w.content.src === src);
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const content = new ImageViewer({
        src,
        serverSettings,
        display: defaults
      });
      const widget = new MainAreaWidget({ content });
      created(content);
      widget.id = `lsstbox-image-${++counter}-${Date.now()}`;
      widget.addClass('lsstbox-ImageDocument');
      widget.toolbar.hide();
      widget.title.icon = fitsIcon;
      widget.title.closable = true;
      widget.title.label = title || src.replace(/^file:/, '');
      widget.title.caption = src;
      if (title) {
        titles.set(widget, title);
      }
      content.infoChanged.connect((_, info) => {
        if (info?.title) {
          if (!title) {
            widget.title.label = info.title;
          }
          widget.title.caption = `${info.title}\n${src}`;
        }
      });
      void images.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
      return widget;
    };

    app.commands.addCommand(ImageCommandIDs.openImage, {
      label: args =>
        args['src'] ? `Open Image ${String(args['src'])}` : 'Open Image…',
      caption:
        'Open an image in the LSST image viewer: file:<path>, did:<obs_publisher_did> or butler:<dataset uuid>',
      icon: args => (args['isPalette'] ? undefined : fitsIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            src: {
              type: 'string',
              description:
                'file:<path under the Jupyter root>, did:<obs_publisher_did> or butler:<dataset uuid>'
            },
            title: { type: 'string', description: 'The tab title' },
            ra: {
              type: 'number',
              description: 'Centre the view on this RA (deg)'
            },
            dec: {
              type: 'number',
              description: 'Centre the view on this Dec (deg)'
            }
          }
        }
      },
      execute: async args => {
        let src = typeof args['src'] === 'string' ? args['src'] : '';
        const title =
          typeof args['title'] === 'string' ? args['title'] : undefined;
        if (!src.trim()) {
          const answer = await InputDialog.getText({
            title: 'Open Image',
            label:
              'Image source: file:<path>, did:<obs_publisher_did> or butler:<dataset uuid>',
            placeholder: 'file:visit.fits',
            okLabel: 'Open'
          });
          if (!answer.button.accept || !answer.value?.trim()) {
            return undefined;
          }
          src = answer.value;
        }
        // viewers restored at start-up get the user's settings too
        await settingsLoaded;
        const widget = openImage(normaliseSrc(src), title);
        const ra = Number(args['ra']);
        const dec = Number(args['dec']);
        if (
          args['ra'] !== undefined &&
          args['dec'] !== undefined &&
          Number.isFinite(ra) &&
          Number.isFinite(dec)
        ) {
          void widget.content
            .centerOnSky(ra, dec)
            .catch(error => widget.content.notify(String(error)));
        }
        return widget;
      }
    });

    if (palette) {
      palette.addItem({
        command: ImageCommandIDs.openImage,
        category: PALETTE_CATEGORY
      });
    }

    if (restorer) {
      void restorer.restore(documents, {
        command: 'docmanager:open',
        args: widget => ({
          path: widget.context.path,
          factory: FITS_FACTORY
        }),
        name: widget => widget.context.path
      });
      void restorer.restore(images, {
        command: ImageCommandIDs.openImage,
        args: widget => {
          const title = titles.get(widget);
          return title
            ? { src: widget.content.src, title }
            : { src: widget.content.src };
        },
        name: widget => widget.content.src
      });
    }
  }
};

export default imagePlugin;
