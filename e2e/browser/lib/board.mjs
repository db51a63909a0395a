// The board tests' shared setup (tests/board.test.mjs): the API client, the seeded project, a
// guarded page of the board, opening the seeded project through the key prompt, and the
// in-page probes: when cards arrive in a column, the stream requests, a dropped stream.
import assert from 'node:assert/strict';
import { apiClient, environment, guard, now } from './harness.mjs';

export const env = environment();
export const api = apiClient(env.base, env.key);
export const COLUMNS = ['open', 'in_progress', 'in_review', 'blocked', 'done'];

/** A project that looks like one a workflow engine filled: milestones, a run, labelled tasks. */
export async function seed() {
    const suffix = `${Date.now().toString(36)}-${process.pid}`;
    const project = (await api.post('/projects', {
        name: 'Uploader', slug: `uploader-${suffix}`, description: 'Resumable uploads for the media service',
    }, 201)).body;
    const base = `/projects/${project.id}`;
    const v1 = (await api.post(`${base}/milestones`, { name: 'v1.0 retries', slug: 'v1-0' }, 201)).body;
    const v2 = (await api.post(`${base}/milestones`, { name: 'v1.1 resumable', slug: 'v1-1' }, 201)).body;
    const run = (await api.post(`${base}/runs`, {
        workflow_type: 'feature_development', external_id: `wf-${suffix}`,
    }, 201)).body;
    const specs = [
        ['Add retry with backoff to the uploader', 'open', 900, ['backend'], v1],
        ['Document the retry settings', 'open', 300, ['docs'], v1],
        ['Resume uploads from the last chunk', 'open', 700, ['backend', 'storage'], v2],
        // Open here, then claimed by an agent (below): in progress, with its claim.
        ['Progress bar for large files', 'open', 800, ['frontend'], v2],
        ['Checksum every chunk', 'in_progress', 600, ['backend'], v1],
        ['Review the chunk size defaults', 'in_review', 500, ['backend'], v1],
        ['Upload via the CDN edge', 'blocked', 400, ['infra'], v2],
        ['Measure upload throughput', 'done', 200, ['perf'], v1],
        ['Split the uploader module', 'done', 100, ['backend'], v1],
    ];
    const tasks = [];
    for (const [i, [title, status, priority_score, labels, milestone]] of specs.entries()) {
        // The docs wait for the retry they document (a dependency by external_id).
        const waits = i === 1 ? [`wf-${suffix}:plan:0`] : [];
        tasks.push((await api.post(`${base}/tasks`, {
            title, status, priority_score, labels, milestone_id: milestone.id, run_id: run.id,
            external_id: `wf-${suffix}:plan:${i}`, depends_on_external_ids: waits,
            description: `${title}.\nCreated by the plan step of run #${run.id}.`,
        }, 201)).body);
    }
    tasks[3] = (await api.post(`${base}/tasks:claim`,
        { worker_id: 'agent-7', lease_secs: 3600, labels: ['frontend'] }, 200)).body;
    assert.equal(tasks[3].title, 'Progress bar for large files');
    const planned = tasks[0];
    const artifact = await fetch(`${env.base}${base}/tasks/${planned.id}/artifacts/plan?iteration=1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${env.key}`, 'content-type': 'text/markdown; charset=utf-8' },
        body: '# Plan\n\n1. Wrap the client in a retry loop\n2. Back off exponentially\n',
    });
    assert.equal(artifact.status, 201, await artifact.text());
    return { project, tasks, planned, run, suffix };
}

/** A page of the board with the guard on (the key may go to the API as a header, nowhere else). */
export async function boardPage(browser, viewport = { width: 1280, height: 860 }) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const watch = await guard(page, { apiKey: env.key, keyOrigin: env.base });
    // Keeps each EventSource the page opens (to end one, as a dropped connection would).
    await page.addInitScript(() => {
        const Native = window.EventSource;
        window.__sources = [];
        window.EventSource = class extends Native {
            constructor(...args) { super(...args); window.__sources.push(this); }
        };
    });
    return { context, page, watch };
}

/** Records, in the page, when each card enters a column: `{id, status, at}`. */
export async function recordArrivals(page) {
    await page.evaluate(() => {
        window.__arrivals = [];
        new MutationObserver((mutations) => {
            const at = performance.timeOrigin + performance.now();
            for (const mutation of mutations) {
                for (const node of mutation.addedNodes) {
                    if (node.classList?.contains('card')) {
                        window.__arrivals.push({ id: Number(node.dataset.id), status: node.closest('.column').dataset.status, at });
                    }
                }
            }
        }).observe(document.querySelector('.board'), { childList: true, subtree: true });
    });
}

export async function waitForArrival(page, id, status, deadline) {
    const timeout = Math.max(deadline - now(), 0) + 2000;
    const handle = await page.waitForFunction(
        ({ id, status }) => window.__arrivals.find((a) => a.id === id && a.status === status),
        { id, status }, { timeout },
    ).catch(() => { throw new Error(`task #${id} did not reach ${status} within ${timeout.toFixed(0)} ms`); });
    return handle.jsonValue();
}

/** Titles of the cards in each column. */
export const columns = (page) => page.evaluate((statuses) => Object.fromEntries(statuses.map((s) => [s,
    [...document.querySelectorAll(`.column[data-status="${s}"] .card-title`)].map((e) => e.textContent)])), COLUMNS);

/** Pastes the key, opens `project` from the project list; the board is live when this returns. */
export async function openProject(page, project) {
    const response = await page.goto(`${env.base}/board`);
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/board/', '/board redirects to /board/');
    const csp = response.headers()['content-security-policy'];
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
        assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    await page.getByLabel('API key').fill(env.key);
    await page.getByRole('button', { name: 'Open the board' }).click();
    const card = page.locator(`.project-card[data-id="${project.id}"]`);
    await card.locator('.project-total').waitFor();
    const total = await card.locator('.project-total').textContent();
    await card.getByRole('link', { name: 'Uploader' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.card').length >= 9 && document.querySelector('.count')?.textContent);
    await page.waitForSelector('#live[data-state="live"]');
    return { total };
}

/** The page's event-stream requests, once there are `n` (the driver reports them a little late). */
export async function streamRequests(watch, n) {
    const streams = () => watch.seen.requests.filter((r) => r.includes('/events?'));
    for (let waited = 0; streams().length < n && waited < 2000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return streams();
}

/**
 * Ends the page's stream as a dropped connection would, with the next token held back until
 * `release()`. The ended request is the one failure the guard is told to expect.
 */
export async function dropStream(page, watch) {
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await page.route('**/stream-tokens', async (route) => { await held; await route.continue(); });
    const dropped = await page.evaluate(() => {
        const source = window.__sources.at(-1);
        source.close();
        source.dispatchEvent(new Event('error'));
        return source.url;
    });
    await page.waitForSelector('#live[data-state="reconnecting"]');
    return () => {
        const expected = watch.seen.failed.findIndex((f) => f === `GET ${dropped}: net::ERR_ABORTED`);
        if (expected >= 0) watch.seen.failed.splice(expected, 1);
        release();
    };
}
