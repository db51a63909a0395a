// Follows one project's change feed with the browser's EventSource. EventSource cannot send
// Authorization, so each connection is opened with a fresh stream token (POST /stream-tokens,
// read-only, valid 60 s to open a stream). When a stream drops, this closes it, mints a new
// token and resumes after the last change it handled (`after=`, what Last-Event-ID carries),
// so nothing is missed or seen twice. An `event: reset` (the cursor was too old), or a drop
// before any change gave a cursor, asks the view to read its lists again.

import { api, ApiError } from './api.js';

/** Every change type the feed sends (so that the cursor follows all of them). */
const TYPES = [
    'task.created', 'task.updated', 'task.deleted',
    'milestone.created', 'milestone.updated', 'milestone.deleted',
    'project.created', 'project.updated', 'project.deleted',
    'run.created', 'run.updated', 'run.deleted', 'run_event.created',
    'artifact.created', 'artifact.updated', 'artifact.deleted',
    'repository.created', 'repository.updated', 'repository.deleted',
];
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 15_000;

export class LiveFeed {
    /**
     * `onChange(type, change)` for each change; `onReset()` when changes were lost; `onStatus(s)`
     * with `connecting`, `live`, `reconnecting`, `gone` (the project) or `refused` (the key);
     * `onOpen(first)` each time a stream opens.
     */
    constructor(projectId, { onChange, onReset, onStatus, onOpen }) {
        Object.assign(this, { projectId, onChange, onReset, onStatus, onOpen });
        this.cursor = null;
        this.source = null;
        this.timer = null;
        this.failures = 0;
        this.opens = 0;
        this.stopped = false;
        this.online = () => this.reconnectNow();
        window.addEventListener('online', this.online);
    }

    start() {
        this.status('connecting');
        this.connect();
    }

    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
        this.source?.close();
        this.source = null;
        window.removeEventListener('online', this.online);
    }

    status(value) {
        this.state = value;
        this.onStatus?.(value);
    }

    async connect() {
        if (this.stopped || this.connecting) return;
        this.connecting = true;
        let token;
        try {
            ({ token } = await api.post('/stream-tokens', { project_id: this.projectId }));
        } catch (error) {
            if (error instanceof ApiError && error.status === 401) return this.giveUp('refused');
            if (error instanceof ApiError && error.status === 404) return this.giveUp('gone');
            return this.retry();
        } finally {
            this.connecting = false;
        }
        if (this.stopped) return;
        const query = new URLSearchParams({ token });
        const resumed = Boolean(this.cursor);
        if (resumed) query.set('after', this.cursor);
        const source = new EventSource(`/projects/${this.projectId}/events?${query}`);
        this.source = source;
        source.addEventListener('open', () => {
            this.failures = 0;
            this.opens += 1;
            this.status('live');
            const first = this.opens === 1;
            this.onOpen?.(first);
            // A stream that dropped before its first change left no cursor to resume after:
            // this one starts from now, so what changed meanwhile must be read again.
            if (!first && !resumed) this.onReset?.();
        });
        // A drop, a refusal or the server ending the stream: resume with a new token.
        source.addEventListener('error', () => {
            if (this.source !== source) return;
            source.close();
            this.source = null;
            this.retry();
        });
        for (const type of TYPES) source.addEventListener(type, (event) => this.received(event));
        source.addEventListener('reset', (event) => {
            this.cursor = event.lastEventId || this.cursor;
            this.onReset?.();
        });
    }

    received(event) {
        let change;
        try {
            change = JSON.parse(event.data);
        } catch {
            return;
        }
        this.cursor = event.lastEventId || change.id;
        this.onChange?.(event.type, change);
    }

    retry() {
        if (this.stopped) return;
        this.status('reconnecting');
        this.failures += 1;
        const backoff = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** (this.failures - 1));
        clearTimeout(this.timer);
        // Jitter: replicas restarting must not meet every board at the same instant.
        this.timer = setTimeout(() => this.connect(), backoff * (0.5 + Math.random() / 2));
    }

    reconnectNow() {
        if (this.stopped || this.source || this.connecting) return;
        clearTimeout(this.timer);
        this.connect();
    }

    giveUp(state) {
        this.stop();
        this.status(state);
    }
}
