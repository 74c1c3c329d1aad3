'use strict';
// Runs the real User Event script under Node with stand-ins for the N/* modules.
// Run: node --test integrations/netsuite/tests/

const test = require('node:test');
const assert = require('node:assert/strict');
const nodeCrypto = require('node:crypto');
const { CONTEXT_TYPE, USER_EVENT_TYPE, fakeRecord, load, userEvent } = require('./harness.js');

const SECRET = 'whsec-test-0123456789abcdef';
const CONFIG = {
    params: {
        custscript_lb_webhook_url: 'https://sync.example.com/webhooks/netsuite',
        custscript_lb_webhook_secret: 'custsecret_ledgerbridge_webhook',
    },
    secrets: { custsecret_ledgerbridge_webhook: SECRET },
};
const NOW_MS = 1_717_405_200_123;

function verify(header, body, secret) {
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    assert.ok(match, 'header has the form t=<unix>,v1=<hex>: ' + header);
    const expected = nodeCrypto.createHmac('sha256', secret).update(match[1] + '.' + body, 'utf8').digest('hex');
    assert.ok(nodeCrypto.timingSafeEqual(Buffer.from(match[2], 'hex'), Buffer.from(expected, 'hex')),
        'signature verifies with the shared secret');
    return Number(match[1]);
}

test('a UI edit posts the ids with a verifiable signature', () => {
    const { script, posts, logs } = load({ ...CONFIG, nowMs: NOW_MS });
    script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 42), oldRecord: fakeRecord('customer', 42) }));

    assert.equal(posts.length, 1);
    const [post] = posts;
    assert.equal(post.url, 'https://sync.example.com/webhooks/netsuite');
    assert.equal(post.body, '{"recordType":"customer","id":"42","eventType":"edit"}');
    assert.equal(post.headers['Content-Type'], 'application/json');
    const t = verify(post.headers['X-LedgerBridge-Signature'], post.body, SECRET);
    assert.equal(t, Math.floor(NOW_MS / 1000));
    assert.deepEqual(logs.filter((l) => l.level === 'error'), []);
});

test('the signature does not verify with another secret', () => {
    const { script, posts } = load(CONFIG);
    script.afterSubmit(userEvent(USER_EVENT_TYPE.CREATE, { newRecord: fakeRecord('invoice', '7') }));
    assert.throws(() => verify(posts[0].headers['X-LedgerBridge-Signature'], posts[0].body, 'other'));
});

for (const context of [CONTEXT_TYPE.REST_WEBSERVICES, CONTEXT_TYPE.WEBSERVICES]) {
    test(`no push for a write made through ${context}`, () => {
        const { script, posts, logs } = load({ ...CONFIG, executionContext: context });
        script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 42) }));
        assert.equal(posts.length, 0);
        assert.equal(logs.length, 0);
    });
}

for (const context of [CONTEXT_TYPE.CSV_IMPORT, CONTEXT_TYPE.SUITELET, CONTEXT_TYPE.SCHEDULED, CONTEXT_TYPE.WORKFLOW]) {
    test(`a change made through ${context} is pushed`, () => {
        const { script, posts } = load({ ...CONFIG, executionContext: context });
        script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 42) }));
        assert.equal(posts.length, 1);
    });
}

test('the skipped contexts are a parameter', () => {
    const params = { ...CONFIG.params, custscript_lb_skip_contexts: 'restwebservices, CSVIMPORT' };
    const csv = load({ ...CONFIG, params, executionContext: CONTEXT_TYPE.CSV_IMPORT });
    csv.script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 1) }));
    assert.equal(csv.posts.length, 0);
    const soap = load({ ...CONFIG, params, executionContext: CONTEXT_TYPE.WEBSERVICES });
    soap.script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 1) }));
    assert.equal(soap.posts.length, 1);
});

test('the save is not blocked when https.post throws', () => {
    const { script, posts, logs } = load({
        ...CONFIG,
        post: () => {
            throw Object.assign(new Error('connection timed out'), { name: 'SSS_REQUEST_TIME_EXCEEDED' });
        },
    });
    assert.doesNotThrow(() => script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('salesorder', 9) })));
    assert.equal(posts.length, 1);
    const errors = logs.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].title, 'ledgerbridge.push.failed');
    assert.match(errors[0].details, /SSS_REQUEST_TIME_EXCEEDED/);
    assert.ok(!JSON.stringify(logs).includes(SECRET), 'the secret is never logged');
});

test('a rejected push is logged, not thrown', () => {
    const { script, logs } = load({ ...CONFIG, post: () => ({ code: 401, body: '{"error":"bad signature"}' }) });
    assert.doesNotThrow(() => script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('invoice', 3) })));
    assert.equal(logs.filter((l) => l.title === 'ledgerbridge.push.rejected').length, 1);
});

test('a missing API secret is logged and the save goes on', () => {
    const { script, posts, logs } = load({ ...CONFIG, secrets: {} });
    assert.doesNotThrow(() => script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('invoice', 3) })));
    assert.equal(posts.length, 0);
    assert.equal(logs.filter((l) => l.title === 'ledgerbridge.push.failed').length, 1);
});

test('missing parameters are reported and nothing is posted', () => {
    const { script, posts, logs } = load({ params: {}, secrets: CONFIG.secrets });
    script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('invoice', 3) }));
    assert.equal(posts.length, 0);
    assert.equal(logs[0].title, 'ledgerbridge.push.misconfigured');
});

test('a delete sends eventType delete with the old record id', () => {
    const { script, posts } = load(CONFIG);
    script.afterSubmit(userEvent(USER_EVENT_TYPE.DELETE, { oldRecord: fakeRecord('customerpayment', 555), newRecord: fakeRecord('customerpayment', 555) }));
    assert.equal(posts.length, 1);
    assert.deepEqual(JSON.parse(posts[0].body), { recordType: 'customerPayment', id: '555', eventType: 'delete' });
});

test('inline edits and approvals are pushed with their own event type', () => {
    const { script, posts } = load(CONFIG);
    script.afterSubmit(userEvent(USER_EVENT_TYPE.XEDIT, { newRecord: fakeRecord('opportunity', 11) }));
    script.afterSubmit(userEvent(USER_EVENT_TYPE.APPROVE, { newRecord: fakeRecord('salesorder', 12) }));
    assert.deepEqual(posts.map((p) => JSON.parse(p.body).eventType), ['xedit', 'approve']);
});

test('views, copies and prints are not pushed', () => {
    const { script, posts } = load(CONFIG);
    for (const type of [USER_EVENT_TYPE.VIEW, USER_EVENT_TYPE.COPY, USER_EVENT_TYPE.PRINT, USER_EVENT_TYPE.EMAIL]) {
        script.afterSubmit(userEvent(type, { newRecord: fakeRecord('customer', 1) }));
    }
    assert.equal(posts.length, 0);
});

test('record types are sent with their SuiteTalk REST names', () => {
    const { script, posts } = load(CONFIG);
    const cases = [
        [fakeRecord('salesorder', 1), 'salesOrder'],
        [fakeRecord('inventoryitem', 2), 'inventoryItem'],
        [fakeRecord('noninventoryitem', 3, { subtype: 'Resale' }), 'nonInventoryResaleItem'],
        [fakeRecord('serviceitem', 4, { subtype: 'Sale' }), 'serviceSaleItem'],
        [fakeRecord('noninventoryitem', 5), 'nonInventorySaleItem'],
        [fakeRecord('customrecord_x', 6), 'customrecord_x'],
    ];
    for (const [rec] of cases) {
        script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: rec }));
    }
    assert.deepEqual(posts.map((p) => JSON.parse(p.body).recordType), cases.map(([, name]) => name));
});

test('the body carries ids only', () => {
    const { script, posts } = load(CONFIG);
    script.afterSubmit(userEvent(USER_EVENT_TYPE.EDIT, { newRecord: fakeRecord('customer', 8, { email: 'a@b.c', companyname: 'Acme' }) }));
    assert.deepEqual(Object.keys(JSON.parse(posts[0].body)), ['recordType', 'id', 'eventType']);
});
