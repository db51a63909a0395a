// A task's card, and the order cards take in a column (the API's work-queue order). Fields
// other parts of the API may add later (claims, dependencies) are shown when present and
// simply absent otherwise.

import { ageElement, h, when } from './dom.js';

/** Sorts like `GET /projects/{id}/tasks` (priority_score desc, created_at, id). */
export function compareTasks(a, b) {
    if (a.priority_score !== b.priority_score) return b.priority_score - a.priority_score;
    if (a.sortKey !== b.sortKey) return a.sortKey < b.sortKey ? -1 : 1;
    return a.id - b.id;
}

/** Who holds the task and until when; null when nobody does. */
export function claimText(task, now = Date.now()) {
    if (!task.claimed_by) return null;
    const until = task.claim_expires_at;
    if (!until) return `Claimed by ${task.claimed_by}`;
    return Date.parse(until) < now
        ? `Claim of ${task.claimed_by} expired ${when(until)}`
        : `Claimed by ${task.claimed_by} until ${when(until)}`;
}

/** "Blocked by 2 tasks" when some of its dependencies are unfinished. */
export function blockedText(task) {
    const n = task.blocked_by;
    if (!Number.isInteger(n) || n <= 0) return null;
    return `Waits for ${n} unfinished ${n === 1 ? 'dependency' : 'dependencies'}`;
}

/** The card of `task`; its button opens the detail (`onOpen(task.id)`). */
export function card(task, onOpen) {
    const claim = claimText(task);
    const blocked = blockedText(task);
    const titleId = `task-${task.id}-title`;
    return h('li', {
        class: 'card',
        dataset: { id: task.id, version: task.version, status: task.status },
        'aria-labelledby': titleId,
    },
    h('h3', { class: 'card-title', id: titleId },
        h('button', {
            type: 'button', class: 'card-open', 'aria-haspopup': 'dialog',
            onclick: () => onOpen(task.id),
        }, task.title)),
    h('p', { class: 'card-meta' },
        h('span', { class: 'priority', title: 'Priority score' }, `P${task.priority_score}`),
        h('span', { class: 'task-id' }, `#${task.id}`),
        h('span', { class: 'age' }, ageElement(task.created_at, ' old'))),
    task.external_id ? h('p', {}, h('code', { class: 'external-id', title: 'external_id' }, task.external_id)) : null,
    task.labels?.length
        ? h('ul', { class: 'labels', 'aria-label': 'Labels' }, task.labels.map((l) => h('li', {}, l)))
        : null,
    claim ? h('p', { class: 'claim' }, claim) : null,
    blocked ? h('p', { class: 'waits' }, blocked) : null);
}
