// Issue 11: a page using the browser's native EventSource, opened with a stream token, receives
// a task created through the API within 1 s of the create's answer, and its move to done too;
// with a strict CSP (served from another origin, so CORS is proven as well), no console errors
// and the API key never in the page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { apiClient, environment, guard, launchChromium, ms, now, servePages } from '../lib/harness.mjs';

const WITHIN_MS = 1000;
const env = environment();
const api = apiClient(env.base, env.key);
const pagesDir = fileURLToPath(new URL('../pages/', import.meta.url));
let pages;
let browser;

const log = (line) => console.log(`    ${line}`);
// The event may reach the page before the answer's last byte reaches the test.
const relative = (value) => `${ms(Math.abs(value))} ${value < 0 ? 'before' : 'after'}`;

before(async () => {
    const started = now();
    pages = await servePages(pagesDir, { port: env.pagesPort, connectSrc: [env.base] });
    browser = await launchChromium();
    log(`Chromium ${browser.version()} started in ${ms(now() - started)}; pages at ${pages.origin}`);
});

after(async () => {
    await browser?.close();
    await pages?.close();
});

/**
 * Waits (a little beyond `deadline`, to tell "late" from "never") for the first event of
 * `type` about `resourceId` whose resource has the given `fields`, and returns it, with `at`
 * the page's clock when the browser handed it to the page.
 */
async function waitForEvent(page, { type, resourceId, fields = {}, deadline }) {
    const timeout = Math.max(deadline - now(), 0) + 2000;
    const handle = await page.waitForFunction(
        ({ type, resourceId, fields }) => window.feed.events.find((e) =>
            e.type === type && e.change.resource_id === resourceId
            && Object.entries(fields).every(([name, value]) => e.change.data?.[name] === value)),
        { type, resourceId, fields },
        { timeout },
    ).catch((error) => {
        throw new Error(`no ${type} event for #${resourceId} within ${timeout.toFixed(0)} ms (${error.message.split('\n')[0]})`);
    });
    return handle.jsonValue();
}

const cursorKey = (cursor) => cursor.split('-').map(BigInt);
const cursorLess = (a, b) => {
    const [x, y] = [cursorKey(a), cursorKey(b)];
    return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
};

test('the guard fails a page on a CSP violation', async () => {
    const page = await browser.newPage();
    const watch = await guard(page, { apiKey: env.key });
    await page.goto(`${pages.origin}/guard-canary.html`);
    await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, 'the inline script ran despite the CSP');
    const problems = await watch.problems();
    assert.ok(problems.some((p) => p.startsWith('CSP violation: script-src')), problems.join('\n'));
    watch.stop();
    await page.close();
});

test('EventSource with a stream token receives a task created, then moved to done, within 1 s', async () => {
    const suffix = `${Date.now().toString(36)}-${process.pid}`;
    const project = (await api.post('/projects', { name: `Browser feed ${suffix}`, slug: `browser-feed-${suffix}` }, 201)).body;
    const token = await api.post('/stream-tokens', { project_id: project.id }, 201);
    assert.match(token.body.token, /^tds_[0-9a-f]{64}$/);
    assert.equal(token.body.project_id, project.id);

    const page = await browser.newPage();
    const watch = await guard(page, { apiKey: env.key });
    // The page gets the API's address and the stream token only, in the fragment.
    const fragment = new URLSearchParams({ base: env.base, project: String(project.id), token: token.body.token });
    const opening = now();
    const response = await page.goto(`${pages.origin}/feed.html#${fragment}`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /default-src 'self'/);
    // Until it is open, or the browser gave up (refused: CORS, CSP, 401, …).
    await page.waitForFunction(() => ['live', 'closed'].includes(window.feed?.status), null, { timeout: 5000 }).catch(() => {});
    const opened = await page.evaluate(() => window.feed);
    if (opened?.status !== 'live') {
        throw new Error(`the stream did not open: ${JSON.stringify(opened)}\n  ${(await watch.problems()).join('\n  ')}`);
    }
    const { openedAt } = opened;
    log(`page loaded and stream open in ${ms(openedAt - opening)}`);

    // Created through the API, by the test (with the key), not by the page.
    const title = `Appears live ${suffix}`;
    const created = await api.post(`/projects/${project.id}/tasks`, { title, external_id: `browser:${suffix}` }, 201);
    const task = created.body;
    const createdEvent = await waitForEvent(page, {
        type: 'task.created', resourceId: task.id, fields: { title }, deadline: created.answeredAt + WITHIN_MS,
    });
    const createLatency = createdEvent.at - created.answeredAt;
    log(`task.created: create answered in ${ms(created.answeredAt - created.sentAt)}; event in the page ${ms(createdEvent.at - created.sentAt)} after the request, ${relative(createLatency)} the answer`);
    assert.ok(createLatency <= WITHIN_MS, `task.created arrived ${ms(createLatency)} after the create's answer (limit ${WITHIN_MS} ms)`);
    assert.equal(createdEvent.change.type, 'task.created');
    assert.equal(createdEvent.change.project_id, project.id);
    assert.equal(createdEvent.change.data.title, title);
    assert.equal(createdEvent.change.data.id, task.id);
    assert.equal(createdEvent.change.data.version, task.version);
    assert.equal(createdEvent.cursor, createdEvent.change.id, 'the SSE id is the change cursor');

    // Moved to done through the API.
    const patched = await api.patch(`/projects/${project.id}/tasks/${task.id}`, { status: 'done' }, 200);
    assert.equal(patched.body.status, 'done');
    const updatedEvent = await waitForEvent(page, {
        type: 'task.updated', resourceId: task.id, fields: { status: 'done' }, deadline: patched.answeredAt + WITHIN_MS,
    });
    const patchLatency = updatedEvent.at - patched.answeredAt;
    log(`task.updated (done): patch answered in ${ms(patched.answeredAt - patched.sentAt)}; event in the page ${ms(updatedEvent.at - patched.sentAt)} after the request, ${relative(patchLatency)} the answer`);
    assert.ok(patchLatency <= WITHIN_MS, `task.updated arrived ${ms(patchLatency)} after the patch's answer (limit ${WITHIN_MS} ms)`);
    assert.equal(updatedEvent.change.data.version, patched.body.version);
    assert.ok(cursorLess(createdEvent.cursor, updatedEvent.cursor), `cursors in order: ${createdEvent.cursor} < ${updatedEvent.cursor}`);

    // Each change exactly once, in order, and shown in the page.
    const state = await page.evaluate(() => window.feed);
    assert.deepEqual(state.events.map((e) => `${e.type} #${e.change.resource_id}`), [`task.created #${task.id}`, `task.updated #${task.id}`]);
    assert.equal(state.opens, 1, 'one connection, no reconnect');
    assert.equal(state.errors, 0);
    const items = await page.locator('#events li').allTextContents();
    assert.deepEqual(items, [`task.created #${task.id} ${title} (${task.status})`, `task.updated #${task.id} ${title} (done)`]);
    assert.equal(await page.locator('#status').textContent(), 'live');
    assert.ok(!page.url().includes(token.body.token), 'the page keeps the token out of its URL');

    // The page's only request to the API is the stream, with the token, never the key.
    const apiRequests = watch.seen.requests.filter((r) => r.includes(env.base));
    assert.deepEqual(apiRequests, [`GET ${env.base}/projects/${project.id}/events?token=${token.body.token}`]);
    await watch.assertClean();
    watch.stop();
    await page.close();
});
