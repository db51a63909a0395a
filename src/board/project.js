// One project's board: the summary, the filters, a column per status and the task detail,
// kept live by the change feed. The order of the first load matters: the stream is opened
// first (it starts from "now"), then the lists are read, then the changes that arrived in
// between are applied (a task's version says which state is newer), so no change falls between
// the lists and the stream.

import { api, ApiError } from './api.js';
import { Column } from './columns.js';
import { Detail } from './detail.js';
import { h, refreshAges, replace, STATUSES } from './dom.js';
import { LiveFeed } from './feed.js';
import { boardHref, filterForm } from './filters.js';
import { columnTotals, renderSummary } from './summary.js';

/** How long the first lists wait for the stream before loading without it. */
const STREAM_WAIT_MS = 4000;
/** Summary re-reads after changes are at most this frequent (each is a conditional GET). */
const SUMMARY_EVERY_MS = 300;
/** Task versions remembered from the feed (to drop stale list entries). */
const SEEN = 10_000;

export class ProjectView {
    /** `onLive(status)` shows the feed's state; `onError(error)` hears a refused key. */
    constructor(projectId, { onLive, onError, setTitle }) {
        Object.assign(this, { projectId, onLive, onError, setTitle });
        this.filters = {};
        this.summary = null;
        this.milestones = [];
        this.seen = new Map();
        this.buffer = [];
        this.ready = false;
        this.rounds = 0;
        this.summaryTimer = null;
        this.heading = h('h1', {}, `Project #${projectId}`);
        this.description = h('p', { class: 'description' });
        this.banner = h('p', { class: 'banner', role: 'alert', hidden: true });
        this.summaryElement = h('section', { class: 'summary', 'aria-label': 'Summary' }, h('p', {}, 'Loading…'));
        this.form = filterForm(projectId, (filters) => { location.hash = boardHref(projectId, filters); });
        const superseded = (task) => (this.seen.get(task.id) ?? -1) > task.version;
        this.columns = STATUSES.map(([status, name]) => new Column(status, name, {
            projectId, superseded, onError, onOpen: (id) => this.detail.show(projectId, id),
        }));
        this.board = h('div', { class: 'board', role: 'region', 'aria-label': 'Tasks by status', onkeydown: (e) => this.navigate(e) },
            this.columns.map((c) => c.element));
        this.detail = new Detail({
            onError,
            milestoneName: (id) => this.milestones.find((m) => m.id === id)?.name ?? `#${id}`,
        });
        this.element = h('div', { class: 'project' },
            h('div', { class: 'project-head' }, this.heading, this.description), this.banner,
            this.summaryElement, this.form.element, this.board);
        this.ages = setInterval(() => refreshAges(this.element), 30_000);
    }

    /** Opens the stream, then reads the project, its summary, runs and the first pages. */
    async open(filters) {
        this.filters = filters;
        let opened;
        const streamOpen = new Promise((resolve) => { opened = resolve; });
        this.feed = new LiveFeed(this.projectId, {
            onStatus: (status) => {
                this.onLive(status);
                if (status === 'refused') this.onError(new ApiError(401, null));
            },
            onOpen: (first) => { opened(); if (first && this.listedWithoutStream) this.reload(); },
            onChange: (type, change) => (this.ready ? this.apply(type, change) : this.buffer.push([type, change])),
            onReset: () => this.reload(),
        });
        this.feed.start();
        try {
            const [project] = await Promise.all([
                api.get(`/projects/${this.projectId}`),
                this.readSummary(),
                this.readRuns(),
            ]);
            this.showProject(project);
            this.form.update(this.filters, this.milestones, this.runs);
        } catch (error) {
            return this.failed(error);
        }
        const waited = await Promise.race([
            streamOpen.then(() => true),
            new Promise((resolve) => setTimeout(() => resolve(false), STREAM_WAIT_MS)),
        ]);
        this.listedWithoutStream = !waited;
        await this.loadColumns();
    }

    close() {
        this.feed?.stop();
        clearInterval(this.ages);
        clearTimeout(this.summaryTimer);
        if (this.detail.dialog.open) this.detail.dialog.close();
        this.detail.dialog.remove();
    }

    /** New filters from the address: the columns are listed again; the stream goes on. */
    setFilters(filters) {
        this.filters = filters;
        this.form.update(filters, this.milestones, this.runs ?? []);
        this.showTotals();
        return this.loadColumns();
    }

    async loadColumns() {
        const round = ++this.rounds;
        this.ready = false;
        this.showTotals();
        await Promise.all(this.columns.map((c) => c.load(this.filters)));
        // A newer round (new filters, a reset) started meanwhile: it applies the changes.
        if (round !== this.rounds) return;
        this.ready = true;
        for (const [type, change] of this.buffer.splice(0)) this.apply(type, change);
    }

    /** After lost changes (a reset) or lists read before the stream: read everything again. */
    reload() {
        this.listedWithoutStream = false;
        this.scheduleSummary();
        return this.loadColumns();
    }

    apply(type, change) {
        const [resource, what] = type.split('.');
        if (resource === 'task') {
            const id = change.resource_id;
            if (what === 'deleted') {
                this.remember(id, Infinity);
                for (const column of this.columns) column.remove(id);
                this.detail.deleted(id);
            } else {
                this.remember(id, change.data.version);
                for (const column of this.columns) column.upsert(change.data);
                this.detail.update(change.data);
            }
            this.scheduleSummary();
        } else if (resource === 'milestone') {
            this.scheduleSummary();
        } else if (resource === 'run' && what !== 'updated') {
            this.readRuns().then(() => this.form.update(this.filters, this.milestones, this.runs)).catch(() => {});
        } else if (resource === 'artifact' && change.data?.task_id) {
            this.detail.artifactsChanged(change.data.task_id);
        } else if (type === 'project.updated') {
            this.showProject(change.data);
        } else if (type === 'project.deleted') {
            this.banner.hidden = false;
            this.banner.textContent = 'This project was deleted.';
            this.feed.stop();
            this.onLive('gone');
        }
    }

    remember(id, version) {
        this.seen.delete(id);
        this.seen.set(id, version);
        if (this.seen.size > SEEN) this.seen.delete(this.seen.keys().next().value);
    }

    showProject(project) {
        replace(this.heading, project.name);
        this.description.textContent = project.description ?? '';
        this.setTitle(project.name);
    }

    async readSummary() {
        this.summary = await api.get(`/projects/${this.projectId}/summary`);
        this.milestones = this.summary.milestones;
        renderSummary(this.summaryElement, this.summary, (id) => boardHref(this.projectId, { ...this.filters, milestone: String(id) }));
        this.form.update(this.filters, this.milestones, this.runs ?? []);
        this.showTotals();
    }

    async readRuns() {
        this.runs = (await api.get(`/projects/${this.projectId}/runs?limit=100`)).data;
    }

    scheduleSummary() {
        if (this.summaryTimer) return;
        this.summaryTimer = setTimeout(() => {
            this.summaryTimer = null;
            this.readSummary().catch((error) => this.failed(error, false));
        }, SUMMARY_EVERY_MS);
    }

    showTotals() {
        const totals = columnTotals(this.summary, this.filters);
        for (const column of this.columns) column.setTotal(totals ? totals[column.status] ?? 0 : null);
    }

    failed(error, fatal = true) {
        if (error instanceof ApiError && error.status === 401) return this.onError(error);
        if (!fatal) return;
        this.feed?.stop();
        this.onLive(null);
        replace(this.element, h('h1', {}, error.status === 404 ? 'No such project' : 'The project could not be read'),
            h('p', {}, error.status === 404 ? 'It was deleted, or belongs to another tenant.' : error.message),
            h('p', {}, h('a', { href: '#/' }, 'All projects')));
    }

    /** Arrow keys move between cards: up and down in a column, left and right across them. */
    navigate(event) {
        const current = event.target.closest?.('.card');
        if (!current || event.altKey || event.ctrlKey || event.metaKey) return;
        const cards = (column) => [...column.querySelectorAll('.card')];
        const columns = [...this.board.querySelectorAll('.column')];
        const column = current.closest('.column');
        const inColumn = cards(column);
        const index = inColumn.indexOf(current);
        let target = null;
        if (event.key === 'ArrowDown') target = inColumn[index + 1];
        else if (event.key === 'ArrowUp') target = inColumn[index - 1];
        else if (event.key === 'Home') target = inColumn[0];
        else if (event.key === 'End') target = inColumn.at(-1);
        else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
            const step = event.key === 'ArrowRight' ? 1 : -1;
            for (let c = columns.indexOf(column) + step; c >= 0 && c < columns.length && !target; c += step) {
                const other = cards(columns[c]);
                target = other[Math.min(index, other.length - 1)];
            }
        } else return;
        event.preventDefault();
        target?.querySelector('.card-open').focus();
    }
}
