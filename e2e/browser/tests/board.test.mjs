// Issue 15: the built-in board at /board/, on the taskdash server itself (same origin, its own
// strict CSP). A reader pastes a key, opens a project and sees the seeded tasks in their status
// columns; a task created and then moved to done through the API appears and moves within 1 s
// of each answer, without a reload; after a dropped stream the board re-mints a stream token
// and resumes after the last change it saw, missing nothing. No console error, no CSP
// violation, the key in no URL. Writes docs/board.png, the README's screenshot.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launchChromium, ms, now } from '../lib/harness.mjs';
import {
    COLUMNS, api, boardPage, columns, dropStream, env, openProject,
    recordArrivals, seed, streamRequests, waitForArrival,
} from '../lib/board.mjs';

const WITHIN_MS = 1000;
const screenshot = fileURLToPath(new URL('../../../docs/board.png', import.meta.url));
let browser;
let seeded;

const log = (line) => console.log(`    ${line}`);
// The card may appear before the answer's last byte reaches the test.
const relative = (value) => `${ms(Math.abs(value))} ${value < 0 ? 'before' : 'after'}`;

before(async () => {
    const started = now();
    [browser, seeded] = await Promise.all([launchChromium(), seed()]);
    log(`Chromium ${browser.version()} started and project #${seeded.project.id} seeded in ${ms(now() - started)}`);
});

after(async () => {
    await browser?.close();
});

test('the board refuses inline script (its CSP), and the guard sees the violation', async () => {
    const { context, page, watch } = await boardPage(browser);
    await page.goto(`${env.base}/board/`);
    await page.addScriptTag({ content: 'window.inlineScriptRan = true;' }).catch(() => {});
    await page.waitForFunction(() => window.__cspViolations.length > 0, null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.inlineScriptRan), undefined, 'the inline script ran');
    assert.ok((await watch.problems()).some((p) => p.startsWith('CSP violation: script-src')));
    watch.stop();
    await context.close();
});

test('a reader sees the project live: seeded columns, a new task appears and moves to done within 1 s', async () => {
    const { context, page, watch } = await boardPage(browser);
    const opening = now();
    const { total } = await openProject(page, seeded.project);
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


test('after a dropped stream the board re-mints a token and resumes after the last change', async () => {
    const { context, page, watch } = await boardPage(browser);
    await openProject(page, seeded.project);
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
    const { context, page, watch } = await boardPage(browser);
    await openProject(page, seeded.project);
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
    const { context, page, watch } = await boardPage(browser);
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
    const { context, page, watch } = await boardPage(browser);
    const [dependency, waiting, , claimed] = seeded.tasks;
    await openProject(page, seeded.project);
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
