/** A few DOM helpers: the portal needs no framework. */

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h("button", {class: "primary", onclick: save}, "Save")`: an element, its attributes
 * (`on...` functions become listeners, `true` an empty attribute, null/false/undefined none)
 * and its children (strings become text, never HTML). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else if (child !== null && child !== undefined && child !== false) {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }
}

/** Replaces what `parent` holds. */
export function show(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export interface Money {
  amount: string;
  currency: string;
}

export function isMoney(value: unknown): value is Money {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof (value as Money).amount === "string" && typeof (value as Money).currency === "string"
  );
}

/** "125,000.00 USD": the decimal string as sent (never through a float), grouped for reading. */
export function money(value: Money): string {
  const [whole = "0", fraction] = value.amount.split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${digits}${fraction !== undefined ? `.${fraction}` : ""} ${value.currency}`;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** An RFC 3339 time in the reader's locale; anything else unchanged. */
export function when(value: string): string {
  if (!DATE_TIME.test(value)) return value;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

const ACRONYMS: Record<string, string> = { mdf: "MDF", id: "ID", spiff: "SPIFF", spiffs: "SPIFFs" };

/** "claims_awaiting_decision" -> "Claims awaiting decision"; "mdf" -> "MDF". */
export function label(key: string): string {
  const words = key.split("_").map((word) => ACRONYMS[word] ?? word).join(" ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The message of an error, for a person: a problem's title and detail, or the error's text. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
