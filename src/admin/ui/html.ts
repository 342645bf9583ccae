/**
 * A small HTML builder that escapes by default. Everything interpolated into {@link html} is
 * escaped unless it is already {@link SafeHtml} (the result of another `html` template), so job
 * payloads, error messages, queue names and stack traces always render as text: a payload
 * containing `<script>` shows up as `&lt;script&gt;`.
 *
 * Attribute values go through the same escaping (quotes included), so they are safe as long as
 * they are quoted, which every template in this folder does. URLs are built only by the
 * `link()` helper of the views from the base path and encoded segments, never from user input
 * alone (no `javascript:` URL can appear).
 *
 * @example
 * ```ts
 * const name = "<b>x</b>";
 * html`<td title="${name}">${name}</td>`.toString();
 * // <td title="&lt;b&gt;x&lt;/b&gt;">&lt;b&gt;x&lt;/b&gt;</td>
 * ```
 */

/** Markup that is known to be safe: built by {@link html} or explicitly by {@link unsafeRaw}. */
export class SafeHtml {
  /** @internal */
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What may be interpolated: text (escaped), safe markup, lists of those; nullish and false render nothing. */
export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** The escaping template tag: `html\`<p>${text}</p>\``. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/**
 * Marks a string as safe markup without escaping it. Only for constants of this folder (e.g. an
 * SVG path computed from numbers); never for anything that came from the database or a request.
 */
export function unsafeRaw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
