// Follows one project's change feed with the browser's own EventSource, the way a dashboard
// does: the page gets only a short-lived stream token (never an API key) and the API's address,
// in the URL's fragment (#base=…&project=…&token=…), which no server sees.
// Everything received is kept in `window.feed` and listed in the page.

const TYPES = [
    'task.created', 'task.updated', 'task.deleted',
    'milestone.created', 'milestone.updated', 'milestone.deleted',
    'project.updated', 'project.deleted', 'reset',
];

const params = new URLSearchParams(location.hash.slice(1));
const base = params.get('base');
const project = params.get('project');
const token = params.get('token');
// The token has done its job once the stream is asked for: keep it out of the history.
history.replaceState(null, '', location.pathname + location.search);

const statusOutput = document.getElementById('status');
const list = document.getElementById('events');
const feed = (window.feed = { status: 'connecting', opens: 0, errors: 0, openedAt: null, events: [] });

function setStatus(status) {
    feed.status = status;
    statusOutput.textContent = status;
}

function describe(type, change) {
    const resource = change?.data;
    if (type === 'reset') return `reset to ${change?.cursor}`;
    if (!resource) return `${type} #${change?.resource_id}`;
    const label = resource.title ?? resource.name ?? '';
    return `${type} #${change.resource_id} ${label}${resource.status ? ` (${resource.status})` : ''}`;
}

function received(event) {
    const at = performance.timeOrigin + performance.now();
    let change = null;
    try {
        change = JSON.parse(event.data);
    } catch {
        console.error(`unreadable ${event.type} event: ${event.data}`);
        return;
    }
    feed.events.push({ type: event.type, cursor: event.lastEventId, at, change });
    const item = document.createElement('li');
    item.dataset.type = event.type;
    item.dataset.cursor = event.lastEventId;
    item.textContent = describe(event.type, change);
    list.append(item);
}

if (!base || !project || !token) {
    setStatus('missing #base, #project or #token');
    console.error('feed.html needs #base=…&project=…&token=…');
} else {
    const url = `${base}/projects/${encodeURIComponent(project)}/events?token=${encodeURIComponent(token)}`;
    const source = new EventSource(url);
    source.addEventListener('open', () => {
        feed.opens += 1;
        feed.openedAt ??= performance.timeOrigin + performance.now();
        setStatus('live');
    });
    source.addEventListener('error', () => {
        feed.errors += 1;
        // EventSource reconnects by itself (with Last-Event-ID) unless the server refused it.
        setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    });
    for (const type of TYPES) source.addEventListener(type, received);
    window.addEventListener('pagehide', () => source.close());
}
