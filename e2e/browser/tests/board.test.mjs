// Issue 15: the built-in board at /board/, on the taskdash server itself (same origin, its own
// strict CSP). A reader pastes a key, opens a project and sees the seeded tasks in their status
// columns; a task created and then moved to done through the API appears and moves within 1 s
// of each answer, without a reload; after a dropped stream the board re-mints a stream token
// and resumes after the last change it saw, missing nothing. No console error, no CSP
// violation, the key in no URL. Writes docs/board.png, the README's screenshot.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { apiClient, environment, guard, launchChromium, ms, now } from '../lib/harness.mjs';

const WITHIN_MS = 1000;
const env = environment();
const api = apiClient(env.base, env.key);
const screenshot = fileURLToPath(new URL('../../../docs/board.png', import.meta.url));
const COLUMNS = ['open', 'in_progress', 'in_review', 'blocked', 'done'];
let browser;
let seeded;

const log = (line) => console.log(`    ${line}`);
// The card may appear before the answer's last byte reaches the test.
const relative = (value) => `${ms(Math.abs(value))} ${value < 0 ? 'before' : 'after'}`;

/** A project that looks like one a workflow engine filled: milestones, a run, labelled tasks. */
async function seed() {
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

before(async () => {
    const started = now();
    [browser, seeded] = await Promise.all([launchChromium(), seed()]);
    log(`Chromium ${browser.version()} started and project #${seeded.project.id} seeded in ${ms(now() - started)}`);
});

after(async () => {
    await browser?.close();
});

/** A page of the board with the guard on (the key may go to the API as a header, nowhere else). */
async function boardPage(viewport = { width: 1280, height: 860 }) {
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
async function recordArrivals(page) {
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

async function waitForArrival(page, id, status, deadline) {
    const timeout = Math.max(deadline - now(), 0) + 2000;
    const handle = await page.waitForFunction(
        ({ id, status }) => window.__arrivals.find((a) => a.id === id && a.status === status),
        { id, status }, { timeout },
    ).catch(() => { throw new Error(`task #${id} did not reach ${status} within ${timeout.toFixed(0)} ms`); });
    return handle.jsonValue();
}

/** Titles of the cards in each column. */
const columns = (page) => page.evaluate((statuses) => Object.fromEntries(statuses.map((s) => [s,
    [...document.querySelectorAll(`.column[data-status="${s}"] .card-title`)].map((e) => e.textContent)])), COLUMNS);

async function openProject(page) {
    const response = await page.goto(`${env.base}/board`);
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/board/', '/board redirects to /board/');
    const csp = response.headers()['content-security-policy'];
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
        assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    await page.getByLabel('API key').fill(env.key);
    await page.getByRole('button', { name: 'Open the board' }).click();
    const card = page.locator(`.project-card[data-id="${seeded.project.id}"]`);
    await card.locator('.project-total').waitFor();
    const total = await card.locator('.project-total').textContent();
    await card.getByRole('link', { name: 'Uploader' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.card').length >= 9 && document.querySelector('.count')?.textContent);
    await page.waitForSelector('#live[data-state="live"]');
    return { total };
}

test('the board refuses inline script (its CSP), and the guard sees the violation', async () => {
    const { context, page, watch } = await boardPage();
    await page.goto(`${env.base}/board/`);
    await page.addScriptTag({ content: 'window.inlineScriptRan = true;' }).catch(() => {});
    await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, 'the inline script ran');
    assert.ok((await watch.problems()).some((p) => p.startsWith('CSP violation: script-src')));
    watch.stop();
    await context.close();
});

test('a reader sees the project live: seeded columns, a new task appears and moves to done within 1 s', async () => {
    const { context, page, watch } = await boardPage();
    const opening = now();
    const { total } = await openProject(page);
    log(`key prompt to a live board in ${ms(now() - opening)}`);
    assert.equal(total, '9 tasks, 2 done', 'the project list shows the counts');

    const expected = Object.fromEntries(COLUMNS.map((s) => [s, seeded.tasks
        .filter((t) => t.status === s)
        .sort((a, b) => b.priority_score - a.priority_score)
        .map((t) => t.title)]));
    assert.deepEqual(await columns(page), expected, 'each seeded task in its status column, in queue order');
    const counts = await page.locator('.column .count').allTextContents();
    assert.deepEqual(counts, ['3', '2', '1', '1', '2'], 'column counts from the summary');
    assert.match(await page.locator('.milestone').first().textContent(), /v1\.0 retries.*2 of 6 done/);

    // Live: created, then moved to done, through the API; the page is never reloaded.
    await page.evaluate(() => { window.__sameDocument = true; });
    await recordArrivals(page);
    const title = `Appears live ${seeded.suffix}`;
    const created = await api.post(`/projects/${seeded.project.id}/tasks`,
        { title, priority_score: 1000, labels: ['live'], external_id: `wf-${seeded.suffix}:live:0` }, 201);
    const task = created.body;
    const appeared = await waitForArrival(page, task.id, 'open', created.answeredAt + WITHIN_MS);
    const appearLatency = appeared.at - created.answeredAt;
    log(`created: answered in ${ms(created.answeredAt - created.sentAt)}, card in Open ${relative(appearLatency)} the answer`);
    assert.ok(appearLatency <= WITHIN_MS, `the card appeared ${ms(appearLatency)} after the create's answer`);
    assert.equal(await page.locator('.column[data-status="open"] .card-title').first().textContent(), title,
        'the highest priority comes first');

    const patched = await api.patch(`/projects/${seeded.project.id}/tasks/${task.id}`, { status: 'done' }, 200);
    const moved = await waitForArrival(page, task.id, 'done', patched.answeredAt + WITHIN_MS);
    const moveLatency = moved.at - patched.answeredAt;
    log(`moved to done: answered in ${ms(patched.answeredAt - patched.sentAt)}, card in Done ${relative(moveLatency)} the answer`);
    assert.ok(moveLatency <= WITHIN_MS, `the card moved ${ms(moveLatency)} after the patch's answer`);
    assert.equal(await page.locator(`.card[data-id="${task.id}"]`).count(), 1, 'moved, not copied');
    assert.equal(await page.locator(`.column[data-status="open"] .card[data-id="${task.id}"]`).count(), 0);
    await page.waitForFunction(() => document.querySelector('.column[data-status="done"] .count').textContent === '3');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');

    // Keyboard: arrows move between cards, Enter opens the detail, Escape closes it.
    await page.locator(`.card[data-id="${seeded.planned.id}"] .card-open`).focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.closest('.card').dataset.id), String(seeded.tasks[2].id));
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: seeded.planned.title });
    await dialog.getByRole('cell', { name: 'plan', exact: true }).waitFor();
    assert.match(await dialog.textContent(), /Created by the plan step of run #\d+/);
    await dialog.getByRole('button', { name: 'Show plan 1' }).click();
    await dialog.locator('pre').filter({ hasText: 'Back off exponentially' }).waitFor();
    await dialog.getByText('feature_development').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement.closest('.card')?.dataset.id), String(seeded.planned.id),
        'focus returns to the card');

    // A filter lives in the address (the key never does) and lists the columns again.
    const label = page.getByRole('textbox', { name: 'Label', exact: true });
    await label.fill('docs');
    await label.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 1);
    assert.match(page.url(), /#\/projects\/\d+\?label=docs$/);
    await page.getByRole('link', { name: 'Clear' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 10);

    await page.screenshot({ path: screenshot });
    log(`screenshot: ${screenshot}`);

    // The key: in this tab's sessionStorage only; the stream opened with a token.
    assert.equal(await page.evaluate(() => Object.keys(localStorage).length), 0);
    assert.ok(!watch.seen.requests.some((r) => r.includes(env.key)), 'the key in no URL');
    const streams = await streamRequests(watch, 1);
    assert.equal(streams.length, 1, streams.join('\n'));
    assert.match(streams[0], /\/events\?token=tds_[0-9a-f]{64}$/);

    // A phone: one column under the other, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const [scrollWidth, width] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
    assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide on a ${width} px screen`);

    await watch.assertClean();
    watch.stop();
    await context.close();
});

/** The page's event-stream requests, once there are `n` (the driver reports them a little late). */
async function streamRequests(watch, n) {
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
async function dropStream(page, watch) {
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

test('after a dropped stream the board re-mints a token and resumes after the last change', async () => {
    const { context, page, watch } = await boardPage();
    await openProject(page);
    await recordArrivals(page);
    const tasks = `/projects/${seeded.project.id}/tasks`;
    const first = (await api.post(tasks, { title: `Before the drop ${seeded.suffix}` }, 201)).body;
    await waitForArrival(page, first.id, 'open', now() + 5000);

    // Written while the board is away: only resuming after its cursor can bring them.
    const release = await dropStream(page, watch);
    await api.patch(`${tasks}/${first.id}`, { status: 'in_review' }, 200);
    const second = (await api.post(tasks, { title: `While away ${seeded.suffix}` }, 201)).body;
    release();
    await waitForArrival(page, first.id, 'in_review', now() + 5000);
    await waitForArrival(page, second.id, 'open', now() + 5000);
    await page.waitForSelector('#live[data-state="live"]');
    const streams = await streamRequests(watch, 2);
    assert.equal(streams.length, 2, streams.join('\n'));
    assert.match(streams[1], /\/events\?token=tds_[0-9a-f]{64}&after=\d+-\d+$/, 'resumed after a cursor');
    const token = (request) => /token=(tds_[0-9a-f]+)/.exec(request)[1];
    assert.notEqual(token(streams[0]), token(streams[1]), 'a new token');
    assert.equal(await page.locator(`.card[data-id="${first.id}"]`).count(), 1);
    assert.equal(await page.locator(`.card[data-id="${second.id}"]`).count(), 1);
    await watch.assertClean();
    watch.stop();
    await context.close();
});

test('a stream dropped before any change gives way to fresh lists', async () => {
    const { context, page, watch } = await boardPage();
    await openProject(page);
    await recordArrivals(page);
    const release = await dropStream(page, watch);
    const task = (await api.post(`/projects/${seeded.project.id}/tasks`, { title: `Unseen ${seeded.suffix}`, status: 'blocked' }, 201)).body;
    release();
    await waitForArrival(page, task.id, 'blocked', now() + 5000);
    const streams = await streamRequests(watch, 2);
    assert.equal(streams.length, 2, streams.join('\n'));
    assert.ok(!streams[1].includes('after='), 'nothing to resume after');
    await watch.assertClean();
    watch.stop();
    await context.close();
});

test('a big column shows a page at a time, and live changes keep it to its size', async () => {
    const suffix = `${Date.now().toString(36)}-${process.pid}`;
    const project = (await api.post('/projects', { name: `Big ${suffix}`, slug: `big-${suffix}` }, 201)).body;
    const tasks = Array.from({ length: 120 }, (_, i) => ({ title: `Queued ${i}`, priority_score: i }));
    await api.post(`/projects/${project.id}/tasks:bulk`, { tasks }, 201);
    const { context, page, watch } = await boardPage();
    await page.goto(`${env.base}/board/#/projects/${project.id}`);
    await page.getByLabel('API key').fill(env.key);
    await page.getByRole('button', { name: 'Open the board' }).click();
    const open = page.locator('.column[data-status="open"]');
    await page.waitForSelector('#live[data-state="live"]');
    await open.locator('.card').nth(49).waitFor();
    assert.equal(await open.locator('.card').count(), 50, 'one page of cards');
    assert.equal(await open.locator('.count').textContent(), '120', 'the count comes from the summary');
    assert.equal(await open.locator('.shown').textContent(), '50 shown of 120');

    await open.getByRole('button', { name: 'Show more' }).click();
    await open.locator('.card').nth(99).waitFor();
    assert.equal(await open.locator('.card').count(), 100);
    const titles = await open.locator('.card-title').allTextContents();
    assert.deepEqual(titles, Array.from({ length: 100 }, (_, i) => `Queued ${119 - i}`), 'the next page, in order');

    // A new first task: shown on top, the window keeps its 100 cards.
    await recordArrivals(page);
    const first = (await api.post(`/projects/${project.id}/tasks`, { title: 'Jumps the queue', priority_score: 5000 }, 201)).body;
    await waitForArrival(page, first.id, 'open', now() + 5000);
    assert.equal(await open.locator('.card-title').first().textContent(), 'Jumps the queue');
    assert.equal(await open.locator('.card').count(), 100);
    await page.waitForFunction(() => document.querySelector('.column[data-status="open"] .count').textContent === '121');

    await open.getByRole('button', { name: 'Show more' }).click();
    await open.locator('.card').nth(120).waitFor();
    assert.equal(await open.locator('.card').count(), 121, 'all of them, each once');
    assert.ok(await open.getByRole('button', { name: 'Show more' }).isHidden());
    await watch.assertClean();
    watch.stop();
    await context.close();
});

test('claims and dependencies are shown on the cards and in the detail', async () => {
    const { context, page, watch } = await boardPage();
    const [dependency, waiting, , claimed] = seeded.tasks;
    await openProject(page);
    const card = page.locator(`.card[data-id="${claimed.id}"]`);
    assert.match(await card.locator('.claim').textContent(), /^Claimed by agent-7 until /);
    const waiter = page.locator(`.card[data-id="${waiting.id}"]`);
    assert.equal(await waiter.locator('.waits').textContent(), 'Waits for 1 unfinished dependency');
    await waiter.getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: waiting.title });
    const dependencies = dialog.getByRole('list').filter({ hasText: dependency.title });
    await dependencies.waitFor();
    assert.equal(await dependencies.getByRole('listitem').count(), 1);
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Only those two carry them: nothing is shown in their place on the other cards.
    assert.equal(await page.locator('.card .claim').count(), 1);
    assert.equal(await page.locator('.card .waits').count(), 1);
    await watch.assertClean();
    watch.stop();
    await context.close();
});
