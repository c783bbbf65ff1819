// DOM helpers. Data from the service (transcripts, unit names, reasons) only ever becomes text nodes
// or attribute values: nothing here parses HTML, so a transcript holding markup renders as that markup's text.

export const $ = (selector, root = document) => root.querySelector(selector);

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  append(node, children);
  return node;
}

// The transcript with the given terms wrapped in <mark>: longest terms win where they overlap, and for
// equally long terms the earlier group (a place before a keyword). `spans` ([start, end, class], offsets into
// the text: the order's elements) are marked first, exactly where they are.
export function highlighted(text, groups, spans = []) {
  const marks = new Array(text.length).fill(null);
  for (const [start, end, cls] of spans) {
    if (!(start >= 0 && end > start && end <= text.length) || !marks.slice(start, end).every((m) => m === null)) continue;
    marks[start] = { cls, end };
    for (let i = start + 1; i < end; i++) marks[i] = "in";
  }
  const terms = [];
  for (const [cls, list] of Object.entries(groups)) {
    for (const term of list || []) if (term && term.length) terms.push([term, cls]);
  }
  terms.sort((a, b) => b[0].length - a[0].length);
  for (const [term, cls] of terms) {
    let from = 0;
    for (;;) {
      const at = text.indexOf(term, from);
      if (at < 0) break;
      const end = at + term.length;
      if (marks.slice(at, end).every((m) => m === null)) {
        marks[at] = { cls, end };
        for (let i = at + 1; i < end; i++) marks[i] = "in";
      }
      from = at + 1;
    }
  }
  const out = [];
  let plain = "";
  for (let i = 0; i < text.length; ) {
    const mark = marks[i];
    if (mark && mark !== "in") {
      if (plain) out.push(document.createTextNode(plain));
      plain = "";
      out.push(h("mark", { class: mark.cls }, text.slice(i, mark.end)));
      i = mark.end;
    } else {
      plain += text[i];
      i += 1;
    }
  }
  if (plain) out.push(document.createTextNode(plain));
  return out;
}

// An order's elements as spans for `highlighted`: each a <mark class="el el-address"> etc.
export function elementSpans(elements) {
  return Object.entries(elements || {})
    .filter(([, span]) => span && typeof span === "object" && Number.isInteger(span.start))
    .map(([key, span]) => [span.start, span.end, `el el-${key}`]);
}

// `blank`: a first option with no value that may be chosen ("未识别"); `placeholder`: one shown while nothing is
// chosen yet (a form before any suggestion), which cannot be picked back.
export function options(select, entries, { blank, placeholder } = {}) {
  const items = [];
  if (blank !== undefined) items.push(h("option", { value: "" }, blank));
  else if (placeholder !== undefined) items.push(h("option", { value: "", disabled: true }, placeholder));
  for (const [value, label] of entries) items.push(h("option", { value }, label));
  fill(select, items);
}

export function percent(value, digits = 0) {
  if (value === null || value === undefined) return "—";
  return `${(value * 100).toFixed(digits)}%`;
}

const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});
export const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—");

let toastTimer = null;
export function toast(message, kind = "ok") {
  const node = $("#toast");
  node.textContent = message;
  node.className = `toast ${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 4000);
}

// True when a key press belongs to a text field, so single-letter shortcuts leave typing alone.
export function typing(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}
