// The board's entry: the key prompt, the header (where you are, the live indicator, "forget
// the key") and the routes of the page's address: `#/` the projects, `#/projects/{id}` a
// project's board (with its filters as a query: `?milestone=3&label=x&run=7&prefix=wf-1:`).

import { api, ApiError, key } from './api.js';
import { h, replace } from './dom.js';
import { readFilters } from './filters.js';
import { ProjectView } from './project.js';
import { projectsView } from './projects.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const live = document.getElementById('live');
const forget = document.getElementById('forget');

const LIVE_TEXT = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    gone: 'Project deleted',
    refused: 'Key refused',
};

/** What is shown now: `{kind, projectId?, view}`. */
let current = null;

function showLive(status) {
    live.hidden = !status;
    live.dataset.state = status ?? '';
    live.textContent = LIVE_TEXT[status] ?? '';
}

function setTitle(name) {
    document.title = name ? `${name} · taskdash board` : 'taskdash board';
    replace(crumbs, name
        ? [h('a', { href: '#/' }, 'Projects'), h('span', { 'aria-hidden': 'true' }, ' › '), h('span', { 'aria-current': 'page' }, name)]
        : []);
}

/** A refused key (revoked, or from another server) ends the session: ask again. */
function refused(error) {
    if (!(error instanceof ApiError) || error.status !== 401) return;
    key.clear();
    prompt('That key was refused (revoked, mistyped, or from another server). Paste a valid one.');
}

function leave() {
    current?.view.close();
    current = null;
    showLive(null);
}

function prompt(message = '') {
    leave();
    setTitle(null);
    forget.hidden = true;
    const input = h('input', {
        id: 'key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false',
        'aria-describedby': 'key-help key-error',
    });
    const error = h('p', { id: 'key-error', class: 'error', role: 'alert' }, message);
    const button = h('button', { type: 'submit' }, 'Open the board');
    const form = h('form', {
        class: 'key-form', 'aria-labelledby': 'key-title',
        onsubmit: async (event) => {
            event.preventDefault();
            button.disabled = true;
            error.textContent = '';
            key.set(input.value.trim());
            try {
                await api.get('/projects?limit=1');
                route();
            } catch (failure) {
                key.clear();
                error.textContent = failure instanceof ApiError && failure.status === 401
                    ? 'That key was refused. Check it and try again.'
                    : `The server could not be reached: ${failure.message}`;
                button.disabled = false;
                input.focus();
            }
        },
    },
    h('h1', { id: 'key-title' }, 'Open the board'),
    h('p', { id: 'key-help' },
        'Paste an API key of your tenant (', h('code', {}, 'tdk_…'), '). A read key is enough. ',
        'It stays in this browser tab (sessionStorage) and goes to this server only as an ',
        h('code', {}, 'Authorization'), ' header, never in an address.'),
    h('label', { for: 'key' }, 'API key'), input, button, error);
    replace(main, form);
    input.focus();
}

function route() {
    if (!key.get()) return prompt();
    forget.hidden = false;
    const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
    const project = /^\/projects\/(\d+)\/?$/.exec(path);
    if (project) {
        const projectId = Number(project[1]);
        const filters = readFilters(query);
        if (current?.kind === 'project' && current.projectId === projectId) {
            current.view.setFilters(filters);
            return;
        }
        leave();
        const view = new ProjectView(projectId, { onLive: showLive, onError: refused, setTitle });
        current = { kind: 'project', projectId, view };
        replace(main, view.element);
        setTitle(`Project #${projectId}`);
        view.open(filters);
        return;
    }
    if (current?.kind === 'projects') return;
    leave();
    setTitle(null);
    const view = projectsView({ onError: refused });
    current = { kind: 'projects', view };
    replace(main, view.element);
}

forget.addEventListener('click', () => {
    key.clear();
    prompt('The key was forgotten.');
});
window.addEventListener('hashchange', route);
route();
