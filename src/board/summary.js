// The project's summary (GET /projects/{id}/summary, read from maintained counters, so it costs
// the same at 100 and at 10 million tasks): counts by status, milestones with their progress,
// runs, the oldest open task and the last activity.

import { ageElement, count, h, replace, STATUS_NAMES, when } from './dom.js';

const percent = (done, total) => (total ? Math.round((done / total) * 100) : 0);

function stat(label, value, status) {
    return h('div', { class: 'stat', dataset: status ? { status } : {} },
        h('dt', {}, label), h('dd', {}, value));
}

/** Fills `element` with `summary`; `milestoneHref(id)` links a milestone to its filter. */
export function renderSummary(element, summary, milestoneHref) {
    const tasks = summary.tasks;
    const runs = summary.runs;
    const statuses = Object.entries(tasks.by_status).map(([status, n]) =>
        stat(STATUS_NAMES[status] ?? status, count(n), status));
    replace(element,
        h('h2', { class: 'visually-hidden' }, 'Summary'),
        h('dl', { class: 'stats' },
            stat('Tasks', count(tasks.total)),
            statuses,
            stat('Runs', runs.total
                ? `${count(runs.total)} (${count(runs.by_status.running)} running, ${count(runs.by_status.failed)} failed)`
                : '0'),
            stat('Oldest open', summary.oldest_open_created_at
                ? ageElement(summary.oldest_open_created_at) : '—'),
            stat('Last activity', summary.last_activity_at ? when(summary.last_activity_at) : '—')),
        h('div', { class: 'progress-row' },
            h('label', { for: 'project-progress' }, `Done: ${count(tasks.done)} of ${count(tasks.total)}`),
            h('progress', { id: 'project-progress', max: Math.max(tasks.total, 1), value: tasks.done },
                `${percent(tasks.done, tasks.total)} %`)),
        summary.milestones.length ? renderMilestones(summary.milestones, milestoneHref) : null);
}

function renderMilestones(milestones, milestoneHref) {
    return h('section', { class: 'milestones', 'aria-labelledby': 'milestones-title' },
        h('h2', { id: 'milestones-title' }, 'Milestones'),
        h('ul', {}, milestones.map((m) => {
            const id = `milestone-${m.id}-progress`;
            return h('li', { class: 'milestone', dataset: { id: m.id, status: m.status } },
                h('a', { href: milestoneHref(m.id), title: 'Show only this milestone\'s tasks' }, m.name),
                m.status === 'active' ? null : h('span', { class: 'badge' }, m.status),
                h('progress', { id, max: Math.max(m.total, 1), value: m.done, 'aria-label': `${m.name}: done` },
                    `${percent(m.done, m.total)} %`),
                h('span', { class: 'milestone-count' }, `${count(m.done)} of ${count(m.total)} done`));
        })));
}

/**
 * Each column's size: from the summary without filters, from the milestone's counts with only
 * the milestone filter, and unknown (null) with any other filter.
 */
export function columnTotals(summary, filters) {
    if (!summary || filters.label || filters.run || filters.prefix) return null;
    if (!filters.milestone) return summary.tasks.by_status;
    const milestone = summary.milestones.find((m) => String(m.id) === filters.milestone);
    return milestone ? milestone.by_status : null;
}
