// The API client: the key (kept in this tab's sessionStorage, sent only as a Bearer header to
// this origin, never in a URL), JSON calls, and conditional GETs: every read remembers its
// ETag and asks again with If-None-Match, so an unchanged summary or page costs a 304.

const KEY = 'taskdash.board.key';
/** How many answers are kept for revalidation. */
const CACHED = 300;

export const key = {
    get: () => sessionStorage.getItem(KEY),
    set(value) {
        sessionStorage.setItem(KEY, value);
        cache.clear();
    },
    clear() {
        sessionStorage.removeItem(KEY);
        cache.clear();
    },
};

/** An answer that was not a success, with its problem document (RFC 9457) when there is one. */
export class ApiError extends Error {
    constructor(status, problem) {
        super(problem?.detail ?? `HTTP ${status}`);
        this.status = status;
        this.problem = problem;
    }
}

/** path → {etag, body}, oldest first (a Map keeps insertion order). */
const cache = new Map();

function remember(path, etag, body) {
    cache.delete(path);
    cache.set(path, { etag, body });
    if (cache.size > CACHED) cache.delete(cache.keys().next().value);
}

async function call(method, path, { body, signal, raw = false } = {}) {
    const secret = key.get();
    if (!secret) throw new ApiError(401, { detail: 'no API key' });
    const headers = { authorization: `Bearer ${secret}`, accept: 'application/json' };
    const cached = method === 'GET' && !raw ? cache.get(path) : undefined;
    if (cached) headers['if-none-match'] = cached.etag;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        // Our own revalidation (above); the browser's cache would hide the 304.
        cache: 'no-store',
        credentials: 'omit',
    });
    if (response.status === 304 && cached) {
        await response.arrayBuffer(); // empty; read so that the request completes
        remember(path, cached.etag, cached.body);
        return cached.body;
    }
    if (!response.ok) {
        let problem = null;
        try { problem = await response.json(); } catch { /* not JSON */ }
        throw new ApiError(response.status, problem);
    }
    if (raw) return response;
    const answer = response.status === 204 ? null : await response.json();
    const etag = response.headers.get('etag');
    if (method === 'GET' && etag) remember(path, etag, answer);
    return answer;
}

export const api = {
    get: (path, options) => call('GET', path, options),
    /** The response itself (for artifact contents), never cached. */
    fetch: (path, options) => call('GET', path, { ...options, raw: true }),
    post: (path, body) => call('POST', path, { body }),
};

/** `/projects/1/tasks?status=open&label=x` from a path and the defined parameters. */
export function url(path, parameters = {}) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(parameters)) {
        if (value !== undefined && value !== null && value !== '') query.set(name, value);
    }
    const text = query.toString();
    return text ? `${path}?${text}` : path;
}
