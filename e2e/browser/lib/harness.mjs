// Shared pieces of the browser tests: the live server's address and key (from run.sh), an API
// client, a static page server with a strict CSP, Debian's Chromium driven by playwright-core,
// and a guard that fails a test on console errors, page errors, CSP violations, or a request
// that carries the API key where it must not. Issue 15's board test reuses all of it.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chromium } from 'playwright-core';

/** Wall-clock milliseconds with sub-ms precision; comparable with `now()` in the page. */
export const now = () => performance.timeOrigin + performance.now();

/** What run.sh hands the tests through the environment. */
export function environment() {
    const need = (name) => {
        const value = process.env[name];
        if (!value) throw new Error(`${name} is not set: run the tests with e2e/browser/run.sh`);
        return value;
    };
    return {
        base: need('TASKDASH_BASE'), // http://127.0.0.1:PORT of the API
        key: need('TASKDASH_API_KEY'), // an admin API key of the server's first tenant
        pagesPort: Number(need('TASKDASH_PAGES_PORT')), // the origin the server allows (CORS)
    };
}

/** A small JSON client of the API with the key; each answer records when it arrived. */
export function apiClient(base, key) {
    async function call(method, path, body, headers = {}) {
        const sentAt = now();
        const response = await fetch(base + path, {
            method,
            headers: {
                authorization: `Bearer ${key}`,
                ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                ...headers,
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        const answeredAt = now();
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { json = text; }
        return { status: response.status, headers: response.headers, body: json, sentAt, answeredAt };
    }
    const expecting = (method) => async (path, body, status, headers) => {
        const answer = await call(method, path, body, headers);
        if (status !== undefined && answer.status !== status) {
            throw new Error(`${method} ${path}: expected ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
        return answer;
    };
    return {
        call,
        get: (path, status = 200, headers) => expecting('GET')(path, undefined, status, headers),
        post: expecting('POST'),
        patch: expecting('PATCH'),
        delete: (path, status = 204, headers) => expecting('DELETE')(path, undefined, status, headers),
    };
}

const CONTENT_TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
};

/**
 * Serves the files of `dir` on 127.0.0.1:`port` with a strict Content-Security-Policy (no inline
 * scripts or styles, nothing from elsewhere but `connectSrc`). Resolves to `{origin, close}`.
 */
export async function servePages(dir, { port = 0, connectSrc = [] } = {}) {
    const csp = [
        "default-src 'self'",
        `connect-src ${["'self'", ...connectSrc].join(' ')}`,
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ].join('; ');
    const root = normalize(dir + sep);
    const server = createServer(async (req, res) => {
        const headers = {
            'content-security-policy': csp,
            'x-content-type-options': 'nosniff',
            'referrer-policy': 'no-referrer',
            'cache-control': 'no-store',
        };
        const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
        if (req.method !== 'GET' && req.method !== 'HEAD') {
            res.writeHead(405, headers).end();
            return;
        }
        if (path === '/favicon.ico') {
            res.writeHead(204, headers).end();
            return;
        }
        const file = normalize(join(root, path.endsWith('/') ? path + 'index.html' : path));
        const type = CONTENT_TYPES[extname(file)];
        if (!file.startsWith(root) || !type) {
            res.writeHead(404, headers).end();
            return;
        }
        try {
            const body = await readFile(file);
            res.writeHead(200, { ...headers, 'content-type': type, 'content-length': body.length });
            res.end(req.method === 'HEAD' ? undefined : body);
        } catch {
            res.writeHead(404, headers).end();
        }
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
    });
    const origin = `http://127.0.0.1:${server.address().port}`;
    return {
        origin,
        csp,
        close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
    };
}

/** Debian's Chromium (never a downloaded build), headless. */
export function launchChromium() {
    return chromium.launch({
        executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
        headless: true,
        timeout: 20_000,
        // This machine's network is closed: keep Chromium from trying to phone home.
        args: ['--disable-gpu', '--disable-quic', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
}

/**
 * Watches a page from before its first script: console errors, uncaught page errors, CSP
 * violations (`securitypolicyviolation`, recorded by an init script, which CSP does not
 * block), failed requests, and any request that carries the API key (header or URL). A page
 * that is itself a client of the API (the board) may send the key as its `Authorization`
 * header to `keyOrigin`, and nowhere else; in a URL, never.
 * `problems()` lists them; `assertClean()` throws if there is any.
 */
export async function guard(page, { apiKey, keyOrigin } = {}) {
    const seen = { console: [], pageErrors: [], requests: [], failed: [], keyLeaks: [] };
    let closing = false;
    page.on('console', (msg) => {
        if (msg.type() === 'error' && !closing) seen.console.push(`${msg.text()} (${msg.location().url || 'page'})`);
    });
    page.on('pageerror', (error) => seen.pageErrors.push(String(error)));
    page.on('request', (request) => {
        seen.requests.push(`${request.method()} ${request.url()}`);
        const auth = request.headers().authorization;
        const allowed = keyOrigin && new URL(request.url()).origin === keyOrigin
            && auth === `Bearer ${apiKey}`;
        if ((auth && !allowed) || (apiKey && request.url().includes(apiKey))) {
            seen.keyLeaks.push(`${request.method()} ${request.url()}${auth ? ' (Authorization header)' : ''}`);
        }
    });
    page.on('requestfailed', (request) => {
        if (!closing) seen.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
    });
    await page.addInitScript(() => {
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || ''}:${e.lineNumber})`);
        });
    });
    const problems = async () => {
        const csp = page.isClosed() ? [] : await page.evaluate(() => window.__cspViolations ?? []);
        return [
            ...csp.map((v) => `CSP violation: ${v}`),
            ...seen.console.map((m) => `console error: ${m}`),
            ...seen.pageErrors.map((m) => `page error: ${m}`),
            ...seen.failed.map((m) => `request failed: ${m}`),
            ...seen.keyLeaks.map((m) => `the API key left the test: ${m}`),
        ];
    };
    return {
        seen,
        problems,
        /** Call before closing the page: an EventSource torn down by the close is no error. */
        stop() { closing = true; },
        async assertClean() {
            const found = await problems();
            if (found.length) throw new Error(`the page was not clean:\n  ${found.join('\n  ')}`);
        },
    };
}

/** Formats a duration in milliseconds for the timings the tests print. */
export const ms = (value) => `${value.toFixed(1)} ms`;
