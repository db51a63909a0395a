// The board's filters: milestone, label, workflow run and external_id prefix (one workflow
// run's tasks, `wf-123:`). They live in the page's address (`#/projects/1?label=backend`), so a
// filtered board can be bookmarked and shared; the API key never is.

import { h } from './dom.js';

export const FILTERS = ['milestone', 'label', 'run', 'prefix'];

/** The filters of a hash query string. */
export function readFilters(query) {
    const parameters = new URLSearchParams(query);
    return Object.fromEntries(FILTERS.map((name) => [name, parameters.get(name)?.trim() || '']));
}

/** The hash of a project's board with `filters`. */
export function boardHref(projectId, filters = {}) {
    const query = new URLSearchParams();
    for (const name of FILTERS) if (filters[name]) query.set(name, filters[name]);
    const text = query.toString();
    return `#/projects/${projectId}${text ? `?${text}` : ''}`;
}

export const hasFilters = (filters) => FILTERS.some((name) => filters[name]);

function field(id, label, control) {
    return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

/**
 * The filter form. `navigate(filters)` applies new ones; `update(filters, milestones, runs)`
 * refreshes the choices and values.
 */
export function filterForm(projectId, navigate) {
    const milestone = h('select', { id: 'filter-milestone', name: 'milestone' });
    const run = h('select', { id: 'filter-run', name: 'run' });
    const label = h('input', { id: 'filter-label', name: 'label', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const prefix = h('input', {
        id: 'filter-prefix', name: 'prefix', type: 'text', autocomplete: 'off', spellcheck: 'false',
        placeholder: 'wf-123:',
    });
    const values = () => ({ milestone: milestone.value, run: run.value, label: label.value.trim(), prefix: prefix.value.trim() });
    const form = h('form', {
        class: 'filters', 'aria-label': 'Filters', role: 'search',
        onsubmit: (event) => { event.preventDefault(); navigate(values()); },
    },
    field('filter-milestone', 'Milestone', milestone),
    field('filter-label', 'Label', label),
    field('filter-run', 'Run', run),
    field('filter-prefix', 'external_id prefix', prefix),
    h('div', { class: 'filter-actions' },
        h('button', { type: 'submit' }, 'Apply'),
        h('a', { class: 'clear', href: boardHref(projectId) }, 'Clear')));
    milestone.addEventListener('change', () => navigate(values()));
    run.addEventListener('change', () => navigate(values()));

    function options(select, choices, current, none) {
        const known = choices.some(([value]) => value === current);
        const all = [['', none], ...choices, ...(current && !known ? [[current, `#${current}`]] : [])];
        select.replaceChildren(...all.map(([value, text]) => h('option', { value }, text)));
        select.value = current;
    }

    return {
        element: form,
        update(filters, milestones, runs) {
            options(milestone, milestones.map((m) => [String(m.id), m.name]), filters.milestone, 'All milestones');
            options(run, runs.map((r) => [String(r.id), `#${r.id} ${r.workflow_type} (${r.status})`]), filters.run, 'All runs');
            if (document.activeElement !== label) label.value = filters.label;
            if (document.activeElement !== prefix) prefix.value = filters.prefix;
        },
    };
}
