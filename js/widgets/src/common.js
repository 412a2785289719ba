// Helpers shared by the widgets' front ends (sky.js, skycore.js, image.js, table.js). esbuild
// bundles what each entry uses into its own file (build.mjs): every file stays self-contained.

/** `text` as a <style> with id `id` in the document's head, once a document. */
export function injectCss(id, text) {
  if (typeof document === 'undefined' || document.getElementById(id)) {
    return;
  }
  const style = document.createElement('style');
  style.id = id;
  style.textContent = text;
  document.head.append(style);
}

/** A short random id (a view's, a sky core's). */
export function randomId() {
  return Math.random().toString(36).slice(2, 10);
}

/** The angle between two positions on the sky, all in degrees. */
export function angularDistance(ra1, dec1, ra2, dec2) {
  const d2r = Math.PI / 180;
  const s =
    Math.sin(((dec2 - dec1) * d2r) / 2) ** 2 +
    Math.cos(dec1 * d2r) *
      Math.cos(dec2 * d2r) *
      Math.sin(((ra2 - ra1) * d2r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(s)))) / d2r;
}

/** A typed array over a message buffer (a DataView, ArrayBuffer or typed array). */
export function typed(Kind, buf) {
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

/** What an error says. */
export const messageOf = err =>
  err instanceof Error ? err.message : String(err);

/** Resolves once `el` is in the document (Lumino attaches only to a connected host). */
export function connected(el, isCancelled) {
  return new Promise(resolve => {
    const step = () => {
      if (isCancelled()) {
        return;
      }
      if (el.isConnected) {
        resolve();
      } else {
        requestAnimationFrame(step);
      }
    };
    step();
  });
}

/** `model.on(event, fn)` for each [event, fn] of `handlers`; their `model.off` go into `cleanups`. */
export function onModel(model, handlers, cleanups) {
  for (const [event, fn] of handlers) {
    model.on(event, fn);
    cleanups.push(() => model.off(event, fn));
  }
}

/**
 * `fn(msg, buffers)` for the kernel's custom messages to view `viewId` (a message with a `view`
 * field is meant for that view only: one meant for another view is not ours).
 */
export function onViewMessages(model, viewId, fn, cleanups) {
  const onMessage = (msg, buffers) => {
    if (!msg || typeof msg !== 'object' || (msg.view && msg.view !== viewId)) {
      return;
    }
    fn(msg, buffers || []);
  };
  onModel(model, [['msg:custom', onMessage]], cleanups);
}

/** The end of view `viewId`: its cleanups run, then the kernel is told it is closed. */
export function closeView(model, viewId, cleanups) {
  for (const fn of cleanups) {
    fn();
  }
  model.send({ type: 'closed', view: viewId });
}
