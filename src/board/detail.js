// A task's detail, in a modal <dialog> (Escape closes it, focus returns to the card): its
// fields, description, dependencies, workflow run and artifacts (metadata; a text artifact's
// content on request). Kept current by the change feed while it is open.

import { api, ApiError, url } from './api.js';
import { blockedText, claimText } from './cards.js';
import { bytes, count, h, replace, STATUS_NAMES, when } from './dom.js';

/** At most this many dependencies are looked up by id. */
const DEPENDENCIES_SHOWN = 20;
const ARTIFACTS_SHOWN = 100;
/** Larger contents are not fetched into the page. */
const CONTENT_SHOWN_BYTES = 512 * 1024;
const TEXTUAL = /^(text\/|application\/(json|xml|yaml|x-yaml|x-ndjson|.*\+json|.*\+xml))/;

function fact(label, value) {
    return value === null || value === undefined || value === ''
        ? null
        : [h('dt', {}, label), h('dd', {}, value)];
}

export class Detail {
    /** `milestoneName(id)` names a milestone; `onError(error)` hears a refused key. */
    constructor({ milestoneName, onError }) {
        Object.assign(this, { milestoneName, onError });
        this.title = h('h2', { id: 'detail-title' });
        this.body = h('div', { class: 'detail-body' });
        this.dialog = h('dialog', { class: 'detail', 'aria-labelledby': 'detail-title' },
            h('header', {}, this.title,
                h('button', { type: 'button', class: 'close', onclick: () => this.dialog.close() }, 'Close')),
            this.body);
        // A click on the backdrop (outside the dialog's box) closes it too.
        this.dialog.addEventListener('click', (event) => { if (event.target === this.dialog) this.dialog.close(); });
        this.dialog.addEventListener('close', () => this.closed());
        document.body.append(this.dialog);
        this.task = null;
    }

    get openTaskId() {
        return this.dialog.open ? this.task?.id : null;
    }

    async show(projectId, taskId) {
        this.projectId = projectId;
        this.opener ??= document.activeElement;
        this.task = { id: taskId };
        replace(this.title, `Task #${taskId}`);
        replace(this.body, h('p', {}, 'Loading…'));
        if (!this.dialog.open) this.dialog.showModal();
        try {
            this.render(await api.get(`/projects/${projectId}/tasks/${taskId}`));
        } catch (error) {
            if (error instanceof ApiError && error.status === 401) return this.onError(error);
            replace(this.body, h('p', { role: 'alert' }, error.status === 404 ? 'This task no longer exists.' : error.message));
        }
    }

    /** A newer state from the feed. */
    update(task) {
        if (this.openTaskId === task.id && task.version >= (this.task.version ?? 0)) this.render(task);
    }

    deleted(taskId) {
        if (this.openTaskId === taskId) this.body.prepend(h('p', { role: 'alert', class: 'gone' }, 'This task was just deleted.'));
    }

    artifactsChanged(taskId) {
        if (this.openTaskId === taskId && this.artifacts) this.loadArtifacts(this.artifacts);
    }

    closed() {
        const id = this.task?.id;
        this.task = null;
        const opener = this.opener?.isConnected ? this.opener
            : document.querySelector(`.card[data-id="${id}"] .card-open`);
        this.opener = null;
        opener?.focus();
    }

    render(task) {
        this.task = task;
        replace(this.title, task.title);
        const dependencies = Array.isArray(task.depends_on) ? task.depends_on : [];
        this.artifacts = h('section', { 'aria-labelledby': 'detail-artifacts' },
            h('h3', { id: 'detail-artifacts' }, 'Artifacts'), h('p', {}, 'Loading…'));
        const run = task.run_id ? h('section', { 'aria-labelledby': 'detail-run' },
            h('h3', { id: 'detail-run' }, 'Run'), h('p', {}, 'Loading…')) : null;
        replace(this.body,
            h('dl', { class: 'facts' },
                fact('Status', STATUS_NAMES[task.status] ?? task.status),
                fact('Priority', String(task.priority_score)),
                fact('external_id', task.external_id ? h('code', {}, task.external_id) : null),
                fact('Labels', task.labels?.length ? task.labels.join(', ') : null),
                fact('Milestone', task.milestone_id ? this.milestoneName(task.milestone_id) : null),
                fact('Parent task', task.parent_task_id ? this.taskButton(task.parent_task_id, `#${task.parent_task_id}`) : null),
                fact('Claim', claimText(task)),
                fact('Dependencies', blockedText(task) ?? (dependencies.length ? 'All finished' : null)),
                fact('Created', when(task.created_at)),
                fact('Updated', `${when(task.updated_at)} (version ${task.version})`),
                fact('Completed', task.completed_at ? when(task.completed_at) : null),
                fact('Id', `#${task.id}`)),
            h('section', { 'aria-labelledby': 'detail-description' },
                h('h3', { id: 'detail-description' }, 'Description'),
                h('p', { class: 'description' }, task.description || 'No description.')),
            dependencies.length ? this.dependencies(dependencies) : null,
            run,
            this.artifacts);
        if (run) this.loadRun(run, task.run_id);
        this.loadArtifacts(this.artifacts);
    }

    taskButton(id, text) {
        return h('button', { type: 'button', class: 'link', onclick: () => this.show(this.projectId, id) }, text);
    }

    dependencies(ids) {
        const list = h('ul', { class: 'dependencies' });
        const shown = ids.slice(0, DEPENDENCIES_SHOWN);
        for (const id of shown) {
            const item = h('li', {}, this.taskButton(id, `#${id}`));
            list.append(item);
            api.get(`/projects/${this.projectId}/tasks/${id}`).then(
                (t) => item.append(` ${t.title} `, h('span', { class: 'badge', dataset: { status: t.status } }, STATUS_NAMES[t.status] ?? t.status)),
                () => item.append(' (not found)'));
        }
        return h('section', { 'aria-labelledby': 'detail-dependencies' },
            h('h3', { id: 'detail-dependencies' }, `Depends on (${count(ids.length)})`), list,
            ids.length > shown.length ? h('p', {}, `and ${count(ids.length - shown.length)} more`) : null);
    }

    async loadRun(section, runId) {
        try {
            const run = await api.get(`/projects/${this.projectId}/runs/${runId}`);
            replace(section, section.firstChild, h('dl', { class: 'facts' },
                fact('Run', `#${run.id} ${run.workflow_type}`),
                fact('Status', run.status),
                fact('external_id', run.external_id ? h('code', {}, run.external_id) : null),
                fact('Started', when(run.started_at)),
                fact('Completed', run.completed_at ? when(run.completed_at) : null)));
        } catch (error) {
            replace(section, section.firstChild, h('p', {}, `Run #${runId}: ${error.message}`));
        }
    }

    async loadArtifacts(section) {
        const taskId = this.task.id;
        const path = `/projects/${this.projectId}/tasks/${taskId}/artifacts`;
        try {
            const page = await api.get(url(path, { limit: ARTIFACTS_SHOWN }));
            if (this.task?.id !== taskId) return;
            const preview = h('pre', { class: 'artifact-content', hidden: true, tabindex: '0' });
            const rows = page.data.map((a) => {
                const iteration = a.iteration ?? '';
                const showable = TEXTUAL.test(a.content_type) && a.byte_size <= CONTENT_SHOWN_BYTES;
                const content = url(`${path}/${a.kind}`, { iteration: a.iteration });
                return h('tr', {},
                    h('td', {}, h('code', {}, a.kind)), h('td', {}, String(iteration)),
                    h('td', {}, a.content_type), h('td', {}, bytes(a.byte_size)), h('td', {}, when(a.updated_at)),
                    h('td', {}, showable ? h('button', {
                        type: 'button', class: 'link', 'aria-label': `Show ${a.kind} ${iteration}`,
                        onclick: () => this.showContent(preview, content),
                    }, 'Show') : ''));
            });
            replace(section, section.firstChild, rows.length ? [
                h('table', { class: 'artifacts' },
                    h('thead', {}, h('tr', {}, ['Kind', 'Iteration', 'Type', 'Size', 'Updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
                    h('tbody', {}, rows)),
                page.next_cursor ? h('p', {}, `Only the first ${ARTIFACTS_SHOWN} are listed.`) : null,
                preview,
            ] : h('p', {}, 'No artifacts.'));
        } catch (error) {
            replace(section, section.firstChild, h('p', {}, `Artifacts: ${error.message}`));
        }
    }

    async showContent(preview, path) {
        preview.hidden = false;
        preview.textContent = 'Loading…';
        try {
            const response = await api.fetch(path);
            preview.textContent = await response.text();
        } catch (error) {
            preview.textContent = error.message;
        }
    }
}
