/**
 * LedgerBridge change push for NetSuite (SuiteScript 2.1 User Event script).
 *
 * After a record is saved, tell LedgerBridge "record <recordType> <id> changed" with one signed
 * HTTPS POST. Only ids travel: LedgerBridge is level-triggered and reads the current record
 * itself through SuiteTalk REST, so no field data ever leaves NetSuite in this call.
 *
 * Body (JSON, keys in this order):   {"recordType": "salesOrder", "id": "1234", "eventType": "edit"}
 * Header:  X-LedgerBridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 *
 * Rules this script keeps:
 *  - It never blocks or fails the user's save: every error is caught and written to the
 *    execution log (N/log). NetSuite's own limits bound the call: 5 s to connect, 45 s to send
 *    (N/https "https.post(options)"); the payload is a few dozen bytes.
 *  - Writes made through web services (REST or SOAP, which is how LedgerBridge itself writes)
 *    are not pushed, so our own writes do not echo back. The skipped contexts are a parameter.
 *  - The signing key never appears in the script, its parameters or the log: it lives in
 *    Setup > Company > API Secrets and is referenced by script id (N/crypto
 *    "crypto.createSecretKey(options)", options.secret, since 2021.1).
 *
 * Script parameters (create them on the script record; see README.md):
 *  - custscript_lb_webhook_url      Free-Form Text, required: https://<host>/webhooks/netsuite
 *  - custscript_lb_webhook_secret   Free-Form Text, required: the API Secret's script id,
 *                                   e.g. custsecret_ledgerbridge_webhook (not the secret itself)
 *  - custscript_lb_skip_contexts    Free-Form Text, optional: comma-separated runtime.ContextType
 *                                   values not to push; default "RESTWEBSERVICES,WEBSERVICES"
 *
 * @NApiVersion 2.1
 * @NScriptType UserEventScript
 * @NModuleScope SameAccount
 */
define(['N/https', 'N/runtime', 'N/crypto', 'N/encode', 'N/log'], (https, runtime, crypto, encode, log) => {
    const PARAM_URL = 'custscript_lb_webhook_url';
    const PARAM_SECRET = 'custscript_lb_webhook_secret';
    const PARAM_SKIP = 'custscript_lb_skip_contexts';
    const SIGNATURE_HEADER = 'X-LedgerBridge-Signature';

    // Event types that change a record. The values of context.UserEventType are the lower-case
    // strings sent as eventType; view/copy/print/email never change data and are not pushed.
    const PUSHED_EVENTS = ['CREATE', 'EDIT', 'XEDIT', 'DELETE', 'APPROVE', 'REJECT', 'CANCEL',
        'PACK', 'SHIP', 'MARKCOMPLETE'];

    // SuiteScript record.Type values are lower case; SuiteTalk REST names are camelCase. The
    // engine reads records through REST, so the push speaks REST names.
    const REST_NAMES = {
        customer: 'customer',
        contact: 'contact',
        salesorder: 'salesOrder',
        invoice: 'invoice',
        customerpayment: 'customerPayment',
        creditmemo: 'creditMemo',
        opportunity: 'opportunity',
        estimate: 'estimate',
        inventoryitem: 'inventoryItem',
        assemblyitem: 'assemblyItem',
        kititem: 'kitItem',
        discountitem: 'discountItem',
        pricelevel: 'priceLevel',
    };
    // Item types whose REST record depends on the item's subtype (for sale / resale / purchase).
    const SPLIT_ITEMS = {
        noninventoryitem: 'nonInventory',
        serviceitem: 'service',
        otherchargeitem: 'otherCharge',
    };
    const SUBTYPES = { sale: 'SaleItem', resale: 'ResaleItem', purchase: 'PurchaseItem' };

    const param = (name) => {
        const value = runtime.getCurrentScript().getParameter({ name });
        return value === null || value === undefined ? '' : String(value).trim();
    };

    const skippedContexts = () => {
        const configured = param(PARAM_SKIP);
        const names = configured
            ? configured.split(',')
            : [runtime.ContextType.REST_WEBSERVICES, runtime.ContextType.WEBSERVICES];
        return names.map((name) => String(name).trim().toUpperCase()).filter((name) => name);
    };

    const restRecordType = (rec) => {
        const type = String(rec.type || '').toLowerCase();
        if (Object.prototype.hasOwnProperty.call(SPLIT_ITEMS, type)) {
            let subtype = '';
            try {
                subtype = String(rec.getValue({ fieldId: 'subtype' }) || '').toLowerCase();
            } catch (e) {
                subtype = '';
            }
            return SPLIT_ITEMS[type] + (SUBTYPES[subtype] || SUBTYPES.sale);
        }
        return Object.prototype.hasOwnProperty.call(REST_NAMES, type) ? REST_NAMES[type] : type;
    };

    const sign = (secretId, timestamp, body) => {
        const key = crypto.createSecretKey({ secret: secretId, encoding: encode.Encoding.UTF_8 });
        const hmac = crypto.createHmac({ algorithm: crypto.HashAlg.SHA256, key });
        hmac.update({ input: timestamp + '.' + body, inputEncoding: encode.Encoding.UTF_8 });
        return 't=' + timestamp + ',v1=' + hmac.digest({ outputEncoding: encode.Encoding.HEX }).toLowerCase();
    };

    const pushedEventType = (context) => {
        const types = context.UserEventType || {};
        for (const name of PUSHED_EVENTS) {
            if (types[name] !== undefined && context.type === types[name]) {
                return String(context.type).toLowerCase();
            }
        }
        return null;
    };

    /**
     * afterSubmit entry point: push one signed "record changed" notice; never throws.
     *
     * @param {Object} context - the User Event context (type, newRecord, oldRecord, UserEventType)
     */
    const afterSubmit = (context) => {
        try {
            const eventType = pushedEventType(context);
            if (eventType === null) {
                return;
            }
            const executionContext = String(runtime.executionContext || '').toUpperCase();
            if (skippedContexts().indexOf(executionContext) !== -1) {
                return;
            }
            const isDelete = eventType === 'delete';
            const rec = isDelete ? (context.oldRecord || context.newRecord) : context.newRecord;
            if (!rec || rec.id === null || rec.id === undefined || rec.id === '') {
                log.audit({ title: 'ledgerbridge.push.skipped', details: 'record without id' });
                return;
            }
            const url = param(PARAM_URL);
            const secretId = param(PARAM_SECRET);
            if (!url || !secretId) {
                log.error({
                    title: 'ledgerbridge.push.misconfigured',
                    details: 'set ' + PARAM_URL + ' and ' + PARAM_SECRET + ' on the script deployment',
                });
                return;
            }
            const body = JSON.stringify({ recordType: restRecordType(rec), id: String(rec.id), eventType });
            const timestamp = String(Math.floor(Date.now() / 1000));
            const headers = { 'Content-Type': 'application/json' };
            headers[SIGNATURE_HEADER] = sign(secretId, timestamp, body);
            const response = https.post({ url, body, headers });
            if (!response || response.code < 200 || response.code >= 300) {
                log.error({
                    title: 'ledgerbridge.push.rejected',
                    details: 'HTTP ' + (response ? response.code : '?') + ' for ' + body,
                });
            }
        } catch (e) {
            // The record is already saved; a failed push is caught up by LedgerBridge's polling.
            log.error({
                title: 'ledgerbridge.push.failed',
                details: (e && e.name ? e.name : 'Error') + ': ' + (e && e.message ? e.message : String(e)),
            });
        }
    };

    return { afterSubmit };
});
