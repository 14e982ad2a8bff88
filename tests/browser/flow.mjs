// Headless-browser test of the Probity web UI: the review workflow end to end
// (triage, reveal refused for an analyst, four-eyes referral, prevention
// notice with the member of staff's response, audit log).
//
// Environment:
//   BASE_URL   the server, e.g. http://127.0.0.1:8080 (loopback only)
//   LOGINS     path to demo-logins.json: [{user, role, password}, ...]
//   ARTIFACTS  directory for screenshots (created if missing)
//   CHROMIUM   optional; the browser binary (default /usr/bin/chromium)
//   FLOW_TIMEOUT_MS  optional; the global time limit (default 120000)
//
// Driven by crates/probity/tests/browser.rs; run by hand with
//   BASE_URL=... LOGINS=... ARTIFACTS=... node tests/browser/flow.mjs
// Exits 0 on success, 1 on a failed check, 2 on the global timeout.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = Number(process.env.FLOW_TIMEOUT_MS || 120_000);
const ACTION_TIMEOUT_MS = 20_000;
const NAV_TIMEOUT_MS = 45_000;

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`flow: environment variable ${name} is required`);
    process.exit(1);
  }
  return v;
}

const BASE_URL = env('BASE_URL').replace(/\/+$/, '');
const LOGINS = env('LOGINS');
const ARTIFACTS = resolve(env('ARTIFACTS'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const base = new URL(BASE_URL);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
  console.error(`flow: BASE_URL must be on loopback, got ${BASE_URL}`);
  process.exit(1);
}

mkdirSync(ARTIFACTS, { recursive: true });

let browser;
// The page being worked on, for the failure report.
let current = null;
let currentLabel = '';

// The global limit: whatever hangs, the run stops (Playwright kills the
// browser it launched when this process exits).
const watchdog = setTimeout(() => {
  console.error(`flow: FAILED: global timeout of ${TIMEOUT_MS} ms exceeded` +
    (currentLabel ? ` (during: ${currentLabel})` : ''));
  process.exit(2);
}, TIMEOUT_MS);

const t0 = Date.now();
function step(label) {
  currentLabel = label;
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${label}`);
}

const logins = JSON.parse(readFileSync(LOGINS, 'utf8'));
assert.ok(Array.isArray(logins), `${LOGINS} must hold a JSON array`);

function login(user, role) {
  const l = logins.find((x) => x.user === user);
  assert.ok(l, `${LOGINS} has no user "${user}" (users: ${logins.map((x) => x.user).join(', ')})`);
  assert.equal(l.role, role, `user ${user} should have role ${role}`);
  return l;
}

const path = (page) => new URL(page.url()).pathname;

/** Navigates `page` to `url` (relative to BASE_URL); returns the response. */
async function go(page, url) {
  current = page;
  return page.goto(url);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  console.log(`    screenshot ${name}`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

/** A new browser context signed in as `user`; returns its page. */
async function signIn(user, role, expectPath) {
  const l = login(user, role);
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    baseURL: BASE_URL,
    serviceWorkers: 'block',
  });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT_MS);
  // Nothing but the server under test: every other request is refused
  // before it leaves the browser.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || (u.host === base.host && u.protocol === base.protocol)) {
      return route.continue();
    }
    console.error(`    blocked request to ${u.href}`);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  current = page;
  const r = await go(page, '/login');
  assert.equal(r.status(), 200, `GET /login answered ${r.status()}`);
  await page.locator('#user').fill(l.user);
  await page.locator('#password').fill(l.password);
  const resp = await submit(page, page.locator('#sign-in'));
  if (await page.locator('#error').count()) {
    assert.fail(`${user} could not sign in: ${await text(page, '#error')}`);
  }
  assert.equal(resp.status(), 200, `${user}: sign-in ended with HTTP ${resp.status()}`);
  assert.equal(path(page), expectPath, `${user} (${role}) should land on ${expectPath}`);
  assert.ok(await page.locator('#logout').isVisible(), `${user}: no #logout button in the nav`);
  return page;
}

/**
 * Clicks a submit button and waits for the page it leads to (after any
 * redirects); returns that page's response.
 */
async function submit(page, button) {
  current = page;
  const final = page.waitForResponse(
    (r) =>
      r.request().isNavigationRequest() &&
      r.frame() === page.mainFrame() &&
      !(r.status() >= 300 && r.status() < 400),
  );
  await button.click();
  const resp = await final;
  await page.waitForLoadState('load');
  return resp;
}

/** Fills and submits the workflow form `form#step-<stepId>`. */
async function workflowStep(page, stepId, reason) {
  const form = page.locator(`form#step-${stepId}`);
  assert.equal(
    await form.count(),
    1,
    `no form#step-${stepId} on ${page.url()}; forms shown: ${await stepForms(page)}`,
  );
  await form.locator('textarea[name=reason]').fill(reason);
  return submit(page, form.locator('button[type=submit], button').first());
}

async function stepForms(page) {
  const ids = await page.locator('form.step, form[id^="step-"]').evaluateAll((fs) => fs.map((f) => f.id));
  return ids.length ? ids.join(', ') : '(none)';
}

/** The finding ids linked from the queue's rows, in order. */
async function queueIds(page) {
  const hrefs = await page.locator('table.queue tbody tr a.finding').evaluateAll((as) =>
    as.map((a) => a.getAttribute('href')),
  );
  return hrefs.map((h) => {
    const m = /^\/findings\/([^/?#]+)$/.exec(h || '');
    assert.ok(m, `queue link ${h} is not /findings/{id}`);
    return decodeURIComponent(m[1]);
  });
}

/** The queue rows' scores as shown (first column). */
async function queueScores(page) {
  return page
    .locator('table.queue tbody tr')
    .evaluateAll((trs) => trs.map((tr) => tr.cells[0].textContent.trim()));
}

async function openQueueRow(page, n) {
  const r = await go(page, '/queue');
  assert.equal(r.status(), 200, `GET /queue answered ${r.status()}`);
  const ids = await queueIds(page);
  assert.ok(ids.length >= n, `the queue shows ${ids.length} rows; need at least ${n}`);
  const id = ids[n - 1];
  const link = page.locator('table.queue tbody tr a.finding').nth(n - 1);
  const resp = await submit(page, link);
  assert.equal(resp.status(), 200, `GET /findings/${id} answered ${resp.status()}`);
  assert.equal(path(page), `/findings/${encodeURIComponent(id)}`);
  return id;
}

const findingUrl = (id) => `/findings/${encodeURIComponent(id)}`;

async function status(page) {
  return text(page, '#status');
}

async function expectStatus(page, want, what) {
  const s = await status(page);
  assert.ok(s.includes(want), `${what}: #status is "${s}", expected it to contain "${want}"`);
}

async function expectRefused(page, resp, what, mention) {
  assert.equal(resp.status(), 409, `${what}: expected HTTP 409, got ${resp.status()} at ${page.url()}`);
  assert.ok(await page.locator('#error').isVisible(), `${what}: no #error shown`);
  const e = await text(page, '#error');
  if (mention) {
    assert.ok(e.toLowerCase().includes(mention), `${what}: #error "${e}" does not mention ${mention}`);
  }
  console.log(`    refused as expected: ${e}`);
  return e;
}

async function run() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  console.log(`chromium ${browser.version()} against ${BASE_URL}`);

  // a) The analyst triages the second finding in the queue.
  step('a) ana signs in and sees the queue');
  const ana = await signIn('ana', 'analyst', '/queue');
  const initial = await queueIds(ana);
  assert.ok(initial.length >= 4, `the queue shows ${initial.length} findings; the flow needs at least 4`);
  assert.equal(new Set(initial).size, initial.length, 'the queue lists a finding twice');
  const scores = (await queueScores(ana)).map(Number);
  for (let i = 1; i < scores.length; i++) {
    assert.ok(scores[i - 1] >= scores[i], `the queue is not sorted by score, highest first: ${scores.join(', ')}`);
  }
  assert.equal(await ana.locator('#f-sort').inputValue(), 'score', 'default sort should be score');
  assert.equal(await ana.locator('#f-status').inputValue(), '', 'default status filter should be open');
  await shot(ana, '01-queue.png');

  const advised = await openQueueRow(ana, 2);
  assert.equal(advised, initial[1]);
  await expectStatus(ana, 'new', 'second finding before triage');
  assert.ok(await ana.locator('#summary').isVisible(), 'finding page has no #summary');
  assert.equal(await ana.locator('#reveal').count(), 0, 'an analyst is offered #reveal');
  step(`a) ana advises on ${advised}`);
  const adviseReason = 'Pattern is minor; words of advice from the line manager suffice.';
  let resp = await workflowStep(ana, 'advise', adviseReason);
  assert.equal(resp.status(), 200, `advise answered ${resp.status()}: ${await ana.locator('#error').allInnerTexts()}`);
  assert.equal(path(ana), findingUrl(advised));
  await expectStatus(ana, 'advice', 'after advise');
  assert.ok((await text(ana, 'ol.history')).includes(adviseReason), 'the decision history lacks the reason');
  await shot(ana, '02-triaged.png');

  // b) An analyst may not reveal who a finding is about.
  step('b) ana is refused the reveal page');
  resp = await go(ana, `${findingUrl(advised)}/reveal`);
  assert.equal(resp.status(), 403, `analyst GET reveal answered ${resp.status()}, expected 403`);
  assert.ok(await ana.locator('#error').isVisible(), 'no #error on the 403 page');
  const denied = await text(ana, '#error');
  assert.match(denied, /may not/i, `#error "${denied}" does not say the role may not use the page`);
  assert.equal(await ana.locator('#do-reveal').count(), 0, 'the reveal form is shown to an analyst');
  assert.equal(await ana.locator('#identity').count(), 0, 'an identity is shown to an analyst');
  console.log(`    denied as expected: ${denied}`);
  await shot(ana, '03-analyst-denied-reveal.png');

  // c) Four-eyes: rev proposes a referral, cannot approve it, rev2 can.
  step('c) rev proposes a referral on the third queue row');
  const rev = await signIn('rev', 'reviewer', '/queue');
  const referred = await openQueueRow(rev, 3);
  assert.notEqual(referred, advised, `third row ${referred} is the finding ana advised on`);
  await expectStatus(rev, 'new', 'third finding before the proposal');
  assert.ok(await rev.locator('#reveal').isVisible(), 'a reviewer is not offered #reveal');
  resp = await workflowStep(rev, 'propose_referral', 'Repeated out-of-hours lookups on colleagues; needs investigation.');
  assert.equal(resp.status(), 200, `propose_referral answered ${resp.status()}`);
  await expectStatus(rev, 'referral proposed', 'after propose_referral');

  step('c) rev tries to approve their own referral');
  resp = await workflowStep(rev, 'approve_referral', 'Approving my own proposal, which should be refused.');
  await expectRefused(rev, resp, 'rev approving own referral', 'four-eyes');
  await shot(rev, '04-four-eyes-refused.png');
  resp = await go(rev, findingUrl(referred));
  await expectStatus(rev, 'referral proposed', 'after the refused approval');

  step('c) rev2 approves the referral');
  const rev2 = await signIn('rev2', 'reviewer', '/queue');
  resp = await go(rev2, findingUrl(referred));
  assert.equal(resp.status(), 200);
  await expectStatus(rev2, 'referral proposed', 'rev2 opening the proposal');
  resp = await workflowStep(rev2, 'approve_referral', 'Second reviewer: agree the evidence warrants investigation.');
  assert.equal(resp.status(), 200, `approve_referral answered ${resp.status()}`);
  await expectStatus(rev2, 'referred for investigation', 'after approve_referral');
  await shot(rev2, '05-referral-approved.png');

  // d) A prevention notice on the top-scoring finding about pat. The demo
  // makes pat the member of staff a highest-score finding is about; when
  // several findings share the top score, pat's need not be the first row,
  // so pat's own page says which findings are theirs.
  step('d) pat signs in; which findings are about pat');
  const pat = await signIn('pat', 'subject', '/me');
  const patIds = await pat
    .locator('div.card.mine')
    .evaluateAll((cs) => cs.map((c) => c.id.replace(/^mine-/, '')));
  assert.ok(patIds.length >= 1, "pat's /me lists no findings about them");
  step('d) rev proposes a prevention notice on the top finding about pat');
  resp = await go(rev, '/queue');
  assert.equal(resp.status(), 200);
  const revIds = await queueIds(rev);
  const revScores = await queueScores(rev);
  const rank = revIds.findIndex((id) => patIds.includes(id));
  assert.ok(rank >= 0, `none of pat's findings (${patIds.join(', ')}) is on the first queue page`);
  assert.equal(
    revScores[rank],
    revScores[0],
    `pat's highest-ranked finding ${revIds[rank]} (row ${rank + 1}, score ${revScores[rank]}) does not have the top score ${revScores[0]}`,
  );
  assert.equal(rank, 0, `the first queue row ${revIds[0]} should be the finding about pat (the demo's subject), but pat's is row ${rank + 1}`);

  const top = await openQueueRow(rev, rank + 1);
  assert.equal(top, revIds[rank]);
  await expectStatus(rev, 'new', 'top finding before the proposal');
  resp = await workflowStep(rev, 'propose_notice', 'Unauthorised access to records; propose a formal prevention notice.');
  assert.equal(resp.status(), 200, `propose_notice answered ${resp.status()}`);
  await expectStatus(rev, 'prevention notice proposed', 'after propose_notice');
  step('d) rev cannot issue it before a response or the window closes');
  resp = await workflowStep(rev, 'issue_notice', 'Issuing straight away, which should be refused.');
  await expectRefused(rev, resp, 'issue_notice inside the response window');

  // e) The member of staff is told and responds.
  step('e) pat sees the notice and responds');
  resp = await go(pat, '/');
  assert.equal(resp.status(), 200);
  assert.equal(path(pat), '/me', `pat's start page is ${pat.url()}`);
  assert.ok((await pat.locator('div.card.notice').count()) >= 1, 'pat has no div.card.notice');
  const card = pat.locator(`div.card.mine[id="mine-${top}"]`);
  assert.equal(
    await card.count(),
    1,
    `pat's /me has no card #mine-${top}; cards: ${await pat.locator('div.card.mine').evaluateAll((cs) => cs.map((c) => c.id).join(', '))}`,
  );
  const cardText = await card.innerText();
  assert.ok(
    cardText.includes('prevention notice proposed'),
    `pat's card for ${top} does not show the proposed notice: ${cardText}`,
  );
  const answer = `I was covering the custody desk that week (browser test ${Date.now()}).`;
  await card.locator('textarea[name=body]').fill(answer);
  resp = await submit(pat, card.getByRole('button', { name: 'Send response' }));
  assert.equal(resp.status(), 200, `respond answered ${resp.status()}`);
  assert.equal(path(pat), '/me');
  const shown = await pat.locator(`div.card.mine[id="mine-${top}"] p.response`).allInnerTexts();
  assert.ok(shown.some((t) => t.includes(answer)), `p.response does not show the response; shows: ${JSON.stringify(shown)}`);
  await shot(pat, '06-subject-responded.png');

  // f) With the response in, the notice can be issued.
  step('f) rev issues the notice');
  resp = await go(rev, findingUrl(top));
  assert.equal(resp.status(), 200);
  await expectStatus(rev, 'prevention notice proposed', 'before issue_notice');
  resp = await workflowStep(rev, 'issue_notice', 'Response read and considered; the notice stands.');
  assert.equal(resp.status(), 200, `issue_notice answered ${resp.status()}: ${await rev.locator('#error').allInnerTexts()}`);
  await expectStatus(rev, 'prevention notice issued', 'after issue_notice');
  const history = await text(rev, 'ol.history');
  assert.ok(history.includes(answer), `the finding's history does not show the response: ${history}`);
  await shot(rev, '07-notice-issued.png');

  // g) The auditor sees every step on the audit log.
  step('g) aud reads the audit log');
  const aud = await signIn('aud', 'auditor', '/audit');
  resp = await go(aud, '/audit?action=review.');
  assert.equal(resp.status(), 200, `GET /audit answered ${resp.status()}`);
  const rows = await aud
    .locator('table.audit tbody tr')
    .evaluateAll((trs) => trs.map((tr) => ({ action: tr.cells[3].textContent.trim(), object: tr.cells[4].textContent.trim(), actor: tr.cells[2].textContent.trim() })));
  const has = (action, object, actor) =>
    rows.some((r) => r.action === action && r.object === object && (!actor || r.actor === actor));
  for (const [action, object, actor] of [
    ['review.advise', advised, 'ana'],
    ['review.propose_referral', referred, 'rev'],
    ['review.approve_referral.refused', referred, 'rev'],
    ['review.approve_referral', referred, 'rev2'],
    ['review.propose_notice', top, 'rev'],
    ['review.respond', top, 'pat'],
    ['review.issue_notice', top, 'rev'],
  ]) {
    assert.ok(has(action, object, actor), `audit log lacks ${action} on ${object} by ${actor}; actions: ${[...new Set(rows.map((r) => r.action))].join(', ')}`);
  }
  assert.ok(rows.every((r) => r.action.startsWith('review.')), 'the action filter let other actions through');
  await shot(aud, '08-audit.png');

  // Sign out ends the session.
  step('sign out');
  resp = await submit(aud, aud.locator('#logout'));
  assert.equal(path(aud), '/login', `after sign-out the page is ${aud.url()}`);
  resp = await go(aud, '/audit');
  assert.equal(path(aud), '/login', `after sign-out /audit did not send to /login (got ${aud.url()}, HTTP ${resp.status()})`);
}

async function reportFailure(err) {
  console.error(`flow: FAILED during "${currentLabel}": ${err && err.stack ? err.stack : err}`);
  if (current && !current.isClosed()) {
    try {
      console.error(`  page: ${current.url()}`);
      const err = current.locator('#error');
      if (await err.count()) console.error(`  #error: ${(await err.first().innerText()).trim()}`);
      const html = await current.content();
      writeFileSync(join(ARTIFACTS, 'failure.html'), html);
      await current.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true, timeout: 10_000 });
      const main = html.match(/<main>[\s\S]*?<\/main>/);
      console.error(`  HTML excerpt: ${(main ? main[0] : html).slice(0, 2000)}`);
      console.error(`  (failure.png and failure.html in ${ARTIFACTS})`);
    } catch (e) {
      console.error(`  (could not capture the page: ${e.message})`);
    }
  }
}

let code = 0;
try {
  await run();
  console.log(`flow: OK in ${((Date.now() - t0) / 1000).toFixed(1)}s; screenshots in ${ARTIFACTS}`);
} catch (err) {
  await reportFailure(err);
  code = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(code);
