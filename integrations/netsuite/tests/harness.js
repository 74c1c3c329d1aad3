'use strict';
// Loads ledgerbridge_ue.js as NetSuite would (an AMD define call) with stand-ins for the N/*
// modules it asks for. The stand-ins follow the documented signatures (options objects,
// enum values), so a script that calls them wrongly fails here.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const nodeCrypto = require('node:crypto');

const SCRIPT = path.join(__dirname, '..', 'ledgerbridge_ue.js');

// runtime.ContextType: enum key -> the string runtime.executionContext holds.
const CONTEXT_TYPE = {
    USER_INTERFACE: 'USERINTERFACE',
    WEBSERVICES: 'WEBSERVICES',
    REST_WEBSERVICES: 'RESTWEBSERVICES',
    RESTLET: 'RESTLET',
    CSV_IMPORT: 'CSVIMPORT',
    SCHEDULED: 'SCHEDULED',
    MAP_REDUCE: 'MAPREDUCE',
    SUITELET: 'SUITELET',
    USEREVENT: 'USEREVENT',
    WORKFLOW: 'WORKFLOW',
};

const USER_EVENT_TYPE = {
    APPROVE: 'approve', CANCEL: 'cancel', CREATE: 'create', COPY: 'copy', DELETE: 'delete',
    EDIT: 'edit', EMAIL: 'email', MARKCOMPLETE: 'markcomplete', PACK: 'pack', PRINT: 'print',
    REJECT: 'reject', SHIP: 'ship', VIEW: 'view', XEDIT: 'xedit',
};

const need = (options, ...keys) => {
    if (!options || typeof options !== 'object') {
        throw Object.assign(new Error('options must be an object'), { name: 'SSS_MISSING_REQD_ARGUMENT' });
    }
    for (const key of keys) {
        if (options[key] === undefined || options[key] === null || options[key] === '') {
            throw Object.assign(new Error('missing ' + key), { name: 'SSS_MISSING_REQD_ARGUMENT' });
        }
    }
};

/** A record as N/record hands it to a User Event: type, id and getValue({fieldId}). */
function fakeRecord(type, id, values = {}) {
    return {
        type,
        id,
        getValue(options) {
            need(options, 'fieldId');
            return Object.prototype.hasOwnProperty.call(values, options.fieldId) ? values[options.fieldId] : null;
        },
    };
}

/**
 * Build the N/* stand-ins and load the script.
 *
 * @param {Object} opts
 * @param {Object} opts.params - script parameters by id
 * @param {Object} opts.secrets - API Secrets by script id (the secret values)
 * @param {string} opts.executionContext - runtime.executionContext for this run
 * @param {Function} opts.post - replaces https.post (default: answer 202)
 * @param {number} opts.nowMs - what Date.now() returns inside the script (default: the real time)
 */
function load({ params = {}, secrets = {}, executionContext = CONTEXT_TYPE.USER_INTERFACE, post, nowMs } = {}) {
    const posts = [];
    const logs = [];
    const https = {
        post(options) {
            need(options, 'url', 'body');
            posts.push(options);
            return post ? post(options) : { code: 202, body: '{"accepted":true}', headers: {} };
        },
    };
    const runtime = {
        ContextType: CONTEXT_TYPE,
        executionContext,
        getCurrentScript() {
            return {
                getParameter(options) {
                    need(options, 'name');
                    return Object.prototype.hasOwnProperty.call(params, options.name) ? params[options.name] : null;
                },
            };
        },
    };
    const encode = { Encoding: { UTF_8: 'UTF_8', HEX: 'HEX', BASE_64: 'BASE_64' } };
    const crypto = {
        HashAlg: { SHA1: 'SHA1', SHA256: 'SHA256', SHA512: 'SHA512' },
        createSecretKey(options) {
            if (!options || (!options.secret && !options.guid)) {
                throw Object.assign(new Error('guid or secret required'), { name: 'SSS_MISSING_REQD_ARGUMENT' });
            }
            if (!Object.prototype.hasOwnProperty.call(secrets, options.secret)) {
                throw Object.assign(new Error('unknown secret ' + options.secret), { name: 'INVALID_SECRET_KEY' });
            }
            return { secret: options.secret, encoding: options.encoding, toString: () => 'crypto.SecretKey' };
        },
        createHmac(options) {
            need(options, 'algorithm', 'key');
            if (options.algorithm !== 'SHA256') {
                throw new Error('this stand-in only does SHA256');
            }
            const mac = nodeCrypto.createHmac('sha256', Buffer.from(secrets[options.key.secret], 'utf8'));
            return {
                update(o) {
                    need(o, 'input');
                    mac.update(o.input, o.inputEncoding === 'BASE_64' ? 'base64' : 'utf8');
                },
                digest(o) {
                    const enc = o && o.outputEncoding === 'BASE_64' ? 'base64' : 'hex';
                    return mac.digest(enc).toUpperCase(); // NetSuite's HEX digest is upper case
                },
            };
        },
    };
    const log = {};
    for (const level of ['debug', 'audit', 'error', 'emergency']) {
        log[level] = (options) => logs.push({ level, title: options.title, details: options.details });
    }
    const modules = { 'N/https': https, 'N/runtime': runtime, 'N/crypto': crypto, 'N/encode': encode, 'N/log': log };

    let exported = null;
    const define = (deps, factory) => {
        const missing = deps.filter((d) => !(d in modules));
        if (missing.length) {
            throw new Error('the script asks for modules the harness lacks: ' + missing.join(', '));
        }
        exported = factory(...deps.map((d) => modules[d]));
    };
    const sandbox = { define };
    if (nowMs !== undefined) {
        sandbox.Date = { now: () => nowMs };
    }
    vm.runInNewContext(fs.readFileSync(SCRIPT, 'utf8'), sandbox, { filename: SCRIPT });
    return { script: exported, posts, logs, runtime };
}

/** A User Event context for afterSubmit. */
function userEvent(type, { newRecord = null, oldRecord = null } = {}) {
    return { type, UserEventType: USER_EVENT_TYPE, newRecord, oldRecord };
}

module.exports = { CONTEXT_TYPE, USER_EVENT_TYPE, fakeRecord, load, userEvent };
