// Small DOM and formatting helpers. Everything the board shows is built with createElement and
// textContent: no HTML strings, so data from the API can never become markup.

/**
 * Creates an element: `h('p', {class: 'x', dataset: {id: 1}, onclick: f}, 'text', child)`.
 * Attributes set to null, undefined or false are left out; children may be strings, nodes,
 * arrays of them, or null.
 */
export function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
        if (value === null || value === undefined || value === false) continue;
        if (name === 'dataset') Object.assign(element.dataset, value);
        else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
        else if (name in element && typeof value !== 'string') element[name] = value;
        else element.setAttribute(name, value === true ? '' : value);
    }
    append(element, children);
    return element;
}

function append(element, children) {
    for (const child of children) {
        if (child === null || child === undefined || child === false) continue;
        if (Array.isArray(child)) append(element, child);
        else element.append(child instanceof Node ? child : String(child));
    }
}

/** Replaces an element's children. */
export function replace(element, ...children) {
    element.replaceChildren();
    append(element, children);
    return element;
}

const number = new Intl.NumberFormat();
/** 12 345 in the reader's locale. */
export const count = (n) => number.format(n ?? 0);

/** How long ago `at` (RFC 3339) was, short: "40 s", "5 min", "3 h", "12 d". */
export function age(at, now = Date.now()) {
    const seconds = Math.max(0, (now - Date.parse(at)) / 1000);
    if (seconds < 60) return `${Math.floor(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86400 * 2) return `${Math.floor(seconds / 3600)} h`;
    return `${Math.floor(seconds / 86400)} d`;
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A moment for people: the time today, else date and time. */
export function when(at) {
    const date = new Date(at);
    return date.toDateString() === new Date().toDateString() ? clock.format(date) : dateTime.format(date);
}

/** `<time>` showing the age of `at`, kept current by `refreshAges`. */
export function ageElement(at, suffix = '') {
    return h('time', { datetime: at, title: dateTime.format(new Date(at)), dataset: { age: suffix } },
        age(at) + suffix);
}

/** Updates every age shown under `root`. */
export function refreshAges(root = document) {
    const now = Date.now();
    for (const element of root.querySelectorAll('time[data-age]')) {
        element.textContent = age(element.dateTime, now) + element.dataset.age;
    }
}

/** 1.2 MB. */
export function bytes(n) {
    if (n < 1024) return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let value = n;
    let unit = -1;
    do { value /= 1024; unit += 1; } while (value >= 1024 && unit < units.length - 1);
    return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A timestamp as a string that sorts like the instant: the API writes 0, 3, 6 or 9 fraction
 * digits, so the fraction is padded to 9.
 */
export function instantKey(at) {
    const [seconds, fraction = ''] = at.replace(/Z$/, '').split('.');
    return `${seconds}.${fraction.padEnd(9, '0')}`;
}

/** Task statuses in board order, with their names for people. */
export const STATUSES = [
    ['open', 'Open'],
    ['in_progress', 'In progress'],
    ['in_review', 'In review'],
    ['blocked', 'Blocked'],
    ['done', 'Done'],
];
export const STATUS_NAMES = Object.fromEntries([...STATUSES, ['archived', 'Archived']]);
