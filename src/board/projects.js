// The tenant's projects, a page at a time (GET /projects with its cursor), each with its task
// counts from its summary (maintained counters: cheap at any size).

import { api, ApiError, url } from './api.js';
import { count, h, STATUSES, when } from './dom.js';
import { boardHref } from './filters.js';

const PAGE = 24;
/** Summaries read at once. */
const PARALLEL = 6;

/** Runs `work(item)` over `items`, at most `parallel` at a time. */
async function eachLimited(items, parallel, work) {
    let next = 0;
    const worker = async () => {
        while (next < items.length) await work(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

function counts(summary) {
    const tasks = summary.tasks;
    return [
        h('p', { class: 'project-total' }, `${count(tasks.total)} tasks, ${count(tasks.done)} done`),
        h('progress', { max: Math.max(tasks.total, 1), value: tasks.done, 'aria-hidden': 'true' }),
        h('ul', { class: 'status-counts', 'aria-label': 'Tasks by status' },
            STATUSES.map(([status, name]) => h('li', { dataset: { status } },
                h('span', { class: 'status-name' }, name), ' ', h('strong', {}, count(tasks.by_status[status]))))),
        summary.last_activity_at ? h('p', { class: 'muted' }, `Last activity ${when(summary.last_activity_at)}`) : null,
    ];
}

/** The projects view; `onError(error)` hears a refused key. */
export function projectsView({ onError }) {
    const list = h('ul', { class: 'projects' });
    const status = h('p', { role: 'status' }, 'Loading…');
    const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More projects');
    const element = h('div', { class: 'projects-view' },
        h('h1', {}, 'Projects'), status, list, more);
    let cursor = null;

    function failed(error) {
        if (error instanceof ApiError && error.status === 401) return onError(error);
        status.textContent = `The projects could not be read: ${error.message}`;
    }

    async function load() {
        more.disabled = true;
        try {
            const page = await api.get(url('/projects', { limit: PAGE, cursor }));
            cursor = page.next_cursor;
            more.hidden = !cursor;
            status.textContent = list.childElementCount + page.data.length ? '' : 'No projects yet: create one through the API (see /docs/).';
            const items = page.data.map((project) => {
                const details = h('div', { class: 'project-counts' }, h('p', { class: 'muted' }, 'Counting…'));
                list.append(h('li', { class: 'project-card', dataset: { id: project.id } },
                    h('h2', {}, h('a', { href: boardHref(project.id) }, project.name)),
                    h('p', { class: 'muted' }, h('code', {}, project.slug)),
                    project.description ? h('p', { class: 'description' }, project.description) : null,
                    details));
                return { project, details };
            });
            await eachLimited(items, PARALLEL, async ({ project, details }) => {
                try {
                    details.replaceChildren(...counts(await api.get(`/projects/${project.id}/summary`)).filter(Boolean));
                } catch (error) {
                    if (error instanceof ApiError && error.status === 401) return onError(error);
                    details.replaceChildren(h('p', { class: 'muted' }, 'Counts unavailable'));
                }
            });
        } catch (error) {
            failed(error);
        } finally {
            more.disabled = false;
        }
    }

    more.addEventListener('click', load);
    load();
    return { element, close() {} };
}
