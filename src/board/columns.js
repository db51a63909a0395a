// One status column: a window on `GET /projects/{id}/tasks?status=…` in work-queue order,
// paged with the list cursor (never all of a big project in the DOM), kept current by the
// change feed. A task arriving live is shown when it falls inside the loaded window; past it,
// it comes with the next page (the cursor resumes after the last task loaded). The DOM is
// changed card by card, so focus and scroll stay where the reader left them.

import { api, ApiError, url } from './api.js';
import { card, compareTasks } from './cards.js';
import { count, h, instantKey, replace } from './dom.js';

/** Cards fetched per page. */
export const PAGE = 50;
/** The most a "show more" may ask for at once (the API's page limit). */
const MAX_LIMIT = 1000;

/** The list query parameters of the board's filters. */
export function listParameters(filters) {
    return {
        milestone_id: filters.milestone,
        label: filters.label,
        run_id: filters.run,
        external_id_prefix: filters.prefix,
    };
}

/** Whether `task` passes the filters (as the API would filter it). */
export function matches(task, filters) {
    if (filters.milestone && String(task.milestone_id) !== filters.milestone) return false;
    if (filters.run && String(task.run_id) !== filters.run) return false;
    if (filters.label && !task.labels?.includes(filters.label)) return false;
    if (filters.prefix && !task.external_id?.startsWith(filters.prefix)) return false;
    return true;
}

const keyed = (task) => ({ ...task, sortKey: instantKey(task.created_at) });

export class Column {
    /**
     * `onOpen(taskId)` opens a card's detail; `onError(error)` hears a refused key;
     * `superseded(task)` says whether the feed already brought a newer state of a listed task.
     */
    constructor(status, name, { projectId, onOpen, onError, superseded }) {
        Object.assign(this, { status, name, projectId, onOpen, onError, superseded });
        this.items = [];
        this.elements = new Map();
        this.next = null;
        this.stale = false;
        this.capacity = PAGE;
        this.total = null;
        this.filters = {};
        this.generation = 0;
        this.loading = false;
        this.pending = [];
        this.countOutput = h('span', { class: 'count' });
        this.shownOutput = h('span', { class: 'shown' });
        this.list = h('ol', { class: 'cards', 'aria-label': `${name} tasks` });
        this.notice = h('p', { class: 'column-notice', role: 'status' });
        this.moreButton = h('button', { type: 'button', class: 'more', hidden: true, onclick: () => this.more() },
            'Show more');
        this.element = h('section', { class: 'column', dataset: { status }, 'aria-labelledby': `column-${status}` },
            h('h2', { id: `column-${status}` }, h('span', { class: 'column-name' }, name), ' ', this.countOutput),
            this.shownOutput, this.list, this.notice, this.moreButton);
    }

    /** The whole column's size from the summary, or null when the filters make it unknown. */
    setTotal(total) {
        this.total = total;
        this.renderCounts();
    }

    /** Lists the first page for `filters`, replacing what is shown. */
    async load(filters, limit = PAGE) {
        this.filters = filters;
        const generation = ++this.generation;
        this.loading = true;
        this.pending = [];
        this.notice.textContent = this.items.length ? '' : 'Loading…';
        try {
            const page = await this.fetch({ limit });
            if (generation !== this.generation) return;
            this.loading = false;
            this.items = page.data.filter((task) => !this.superseded(task)).map(keyed);
            this.next = page.next_cursor;
            this.stale = false;
            this.capacity = Math.max(limit, PAGE);
            this.renderAll();
            for (const task of this.pending.splice(0)) this.upsert(task);
        } catch (error) {
            if (generation === this.generation) this.failed(error);
        } finally {
            if (generation === this.generation) this.loading = false;
        }
    }

    /** The next page (or, when live changes pushed cards out of the window, a fresh list). */
    async more() {
        if (this.loading) return;
        if (this.stale || !this.next) return this.load(this.filters, Math.min(this.items.length + PAGE, MAX_LIMIT));
        const generation = this.generation;
        this.loading = true;
        this.moreButton.disabled = true;
        this.pending = [];
        try {
            const page = await this.fetch({ limit: PAGE, cursor: this.next });
            if (generation !== this.generation) return;
            for (const task of page.data) {
                if (this.elements.has(task.id) || this.superseded(task)) continue;
                this.items.push(keyed(task));
                this.list.append(this.cardOf(this.items.at(-1)));
            }
            this.next = page.next_cursor;
            this.capacity = this.items.length;
            this.renderCounts();
        } catch (error) {
            if (generation === this.generation) this.failed(error);
        } finally {
            if (generation === this.generation) this.loading = false;
            this.moreButton.disabled = false;
        }
        if (generation === this.generation) for (const task of this.pending.splice(0)) this.upsert(task);
    }

    fetch(parameters) {
        const query = { status: this.status, ...listParameters(this.filters), ...parameters };
        return api.get(url(`/projects/${this.projectId}/tasks`, query));
    }

    failed(error) {
        if (error instanceof ApiError && error.status === 401) return this.onError(error);
        this.notice.textContent = `Could not list these tasks: ${error.message}`;
    }

    /** Shows `task` where it belongs now (or removes it, if it no longer belongs here). */
    upsert(task) {
        // A list being read may predate this change: it is applied again once the list is in.
        if (this.loading) this.pending.push(task);
        const at = this.items.findIndex((t) => t.id === task.id);
        if (at >= 0 && this.items[at].version >= task.version) return; // not newer than shown
        if (task.status !== this.status || !matches(task, this.filters)) return this.remove(task.id);
        const item = keyed(task);
        const rest = at >= 0 ? this.items.filter((t) => t.id !== task.id) : this.items;
        let position = rest.findIndex((t) => compareTasks(item, t) < 0);
        if (position < 0) position = rest.length;
        // Past the loaded window: the next page brings it.
        const complete = !this.next && !this.stale;
        if (position === rest.length && !complete) return this.remove(task.id);
        const focused = this.removeElement(task.id, false);
        this.items = [...rest.slice(0, position), item, ...rest.slice(position)];
        const element = this.cardOf(item);
        element.classList.add('arrived');
        this.list.insertBefore(element, this.elements.get(this.items[position + 1]?.id) ?? null);
        if (focused) element.querySelector('button').focus();
        if (this.items.length > this.capacity) {
            // Keep the window's size; what fell out needs a fresh list to be seen again.
            this.removeElement(this.items.pop().id, true);
            this.stale = true;
        }
        this.renderCounts();
    }

    /** Removes the task's card, if shown; refills a column emptied by live moves. */
    remove(id) {
        const at = this.items.findIndex((t) => t.id === id);
        if (at < 0) return;
        this.items.splice(at, 1);
        this.removeElement(id, true);
        this.renderCounts();
        if (this.next && !this.loading && this.items.length < PAGE / 2) this.more();
    }

    /** Removes a card's element; returns whether it had the focus (moved to a neighbour). */
    removeElement(id, moveFocus) {
        const element = this.elements.get(id);
        if (!element) return false;
        const focused = element.contains(document.activeElement);
        if (focused && moveFocus) {
            const neighbour = element.nextElementSibling ?? element.previousElementSibling;
            (neighbour?.querySelector('button') ?? this.list.closest('.board')?.querySelector('.card-open'))?.focus();
        }
        element.remove();
        this.elements.delete(id);
        return focused;
    }

    cardOf(task) {
        const element = card(task, this.onOpen);
        this.elements.set(task.id, element);
        return element;
    }

    renderAll() {
        this.elements.clear();
        replace(this.list, this.items.map((task) => this.cardOf(task)));
        this.notice.textContent = '';
        this.renderCounts();
    }

    renderCounts() {
        const shown = this.items.length;
        const more = Boolean(this.next) || this.stale;
        this.countOutput.textContent = this.total === null ? '' : count(this.total);
        this.countOutput.title = this.total === null ? '' : `${count(this.total)} tasks`;
        const of = this.total === null ? (more ? ' (more to load)' : '') : ` of ${count(this.total)}`;
        this.shownOutput.textContent = more || this.total === null ? `${count(shown)} shown${of}` : '';
        this.moreButton.hidden = !more;
        if (!shown && !this.loading && !this.notice.textContent) this.notice.textContent = 'No tasks';
        else if (shown && this.notice.textContent === 'No tasks') this.notice.textContent = '';
    }
}
