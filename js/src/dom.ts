/**
 * Small DOM helpers shared by the catalog browser's widgets.
 */

export type Child = Node | string | null | undefined | false;

/** Create an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(child);
  }
  return node;
}

/** A `<button type="button">` with a click handler. */
export function button(
  label: Child,
  attrs: Record<string, string>,
  onClick: (event: MouseEvent) => void
): HTMLButtonElement {
  const node = h(
    'button',
    { type: 'button', class: 'jp-Button lsstbox-Btn', ...attrs },
    label
  );
  node.addEventListener('click', onClick);
  return node;
}

/** An error's message, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Format an ISO timestamp in the user's locale (date and time to the minute). */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) {
    return iso;
  }
  return date.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit'
  });
}

/** `1234567` -> `1,234,567`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** The value of a CSS custom property on the body (the current theme's). */
export function cssVar(name: string, fallback = ''): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}
