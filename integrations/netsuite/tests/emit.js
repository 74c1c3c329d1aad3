'use strict';
// Runs the User Event script once and prints the HTTPS POST it made as JSON on stdout, so the
// Python receiver's tests can check that what the script sends is what the receiver accepts.
// Usage: node emit.js <secret> <recordType> <id> <eventType> <nowMs>

const { fakeRecord, load, userEvent } = require('./harness.js');

const [secret, recordType, id, eventType, nowMs] = process.argv.slice(2);
const { script, posts, logs } = load({
    params: {
        custscript_lb_webhook_url: 'https://ledgerbridge.test/webhooks/netsuite',
        custscript_lb_webhook_secret: 'custsecret_ledgerbridge_webhook',
    },
    secrets: { custsecret_ledgerbridge_webhook: secret },
    nowMs: Number(nowMs),
});
const rec = fakeRecord(recordType, id);
script.afterSubmit(userEvent(eventType, eventType === 'delete' ? { oldRecord: rec } : { newRecord: rec }));
process.stdout.write(JSON.stringify({ posts, logs }) + '\n');
