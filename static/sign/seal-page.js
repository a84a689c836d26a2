// The bidder's sealing page (templates/bids/seal.html): the price sheet checked field by field,
// the certificates, the two passes of seal.js, the upload of upload.js, and the receipt's checks.

import { pickHolder } from './picker.js';
import { algorithmOf, describe, parseCertificate, pick } from './holder.js';
import { PAGE_LIMIT, prepare, priceBytes, fingerprint, certificateDer, missingFiles } from './seal.js';
import { safeName, FileChanged } from './zip.js';
import * as up from './upload.js';

const root = document.querySelector('[data-seal]');
const texts = JSON.parse(document.getElementById('seal-texts').textContent);
const rules = JSON.parse(document.getElementById('seal-rules').textContent);
const form = document.getElementById('seal-form');
const $ = (sel, el = root) => el.querySelector(sel);
const tenderId = root.dataset.tender, lotNumber = Number(root.dataset.lot);
const slot = up.slotOf(tenderId, lotNumber);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
let holder = null;

const holderBox = document.getElementById('holder');
const holderLine = $('[data-holder-line]'), holderChange = $('[data-holder-change]');

/** The shared picker; once a certificate is open, the page says which, and offers to change it. */
function offerHolder() {
  holderLine.hidden = true;
  holderChange.hidden = true;
  pickHolder(holderBox, { purpose: 'signing' }).then(async (h) => {
    holder = h;
    holderLine.textContent = texts.holder + describe(await pick(h, 'signing'));
    holderLine.hidden = false;
    holderChange.hidden = false;
  }, () => offerHolder());
}

holderChange.addEventListener('click', () => {
  holder?.close();
  holder = null;
  offerHolder();
});
offerHolder();

// --- the price sheet --------------------------------------------------------------------------

function showError(field, message) {
  const el = root.querySelector(`[data-error-for="${field}"]`);
  el.textContent = message || '';
  el.hidden = !message;
  const input = form.elements[field];
  if (input && input.setAttribute) input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

function integer(name, value, errors) {
  if (value === '') return null;
  const { minimum, maximum } = rules[name];
  if (!/^[0-9]+$/.test(value) || Number(value) < minimum || Number(value) > maximum) {
    errors[name] = fill(texts.integer, { min: minimum, max: maximum });
    return null;
  }
  return Number(value);
}

function text(name, value, errors) {
  if (value === '') return null;
  if ([...value].length > rules[name].maxLength) errors[name] = fill(texts.too_long, { max: rules[name].maxLength });
  return value;
}

/** The sheet as price.schema.json wants it, or the per-field messages. */
export function priceSheet() {
  const v = (name) => form.elements[name].value.trim();
  const errors = {};
  const total = v('total_price');
  if (!total) errors.total_price = texts.required;
  else if (!new RegExp(rules.total_price).test(total)) errors.total_price = texts.total_price;
  const items = [];
  for (const line of v('items').split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = line.match(/^([^:：]+)[:：](.+)$/);
    const name = m?.[1].trim(), value = m?.[2].trim();
    if (!m || !name || !value || [...name].length > rules.item_name.maxLength ||
        [...value].length > rules.item_value.maxLength) {
      errors.items = fill(texts.items, { max: rules.items });
    } else items.push({ name, value });
  }
  if (items.length > rules.items) errors.items = fill(texts.items, { max: rules.items });
  const sheet = {
    format: 1, tender_code: root.dataset.code, lot: lotNumber,
    bidder: { name: root.dataset.orgName, credit_code: root.dataset.creditCode },
    total_price: total, currency: 'CNY', price_unit: 'yuan',
    duration_days: integer('duration_days', v('duration_days'), errors),
    warranty_months: integer('warranty_months', v('warranty_months'), errors),
    quality: text('quality', v('quality'), errors),
    discount_note: text('discount_note', v('discount_note'), errors),
    items,
  };
  for (const f of ['total_price', 'duration_days', 'warranty_months', 'quality', 'discount_note', 'items']) {
    showError(f, errors[f]);
  }
  return Object.keys(errors).length ? null : sheet;
}

function chosenFiles(input) {
  const files = [...input.files];
  if (!files.length) return [texts.no_files, files];
  for (const f of files) {
    const name = f.webkitRelativePath || f.name;
    if (name === 'price.json') return [texts.price_file, files];
    if (!safeName(name)) return [texts.bad_name + name, files];
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  // the sealed bid is larger still (ZIP and CMS framing): over the lot's limit now is over it then
  const lotLimit = Number(root.dataset.maxBytes);
  if (lotLimit && total > lotLimit) {
    return [fill(texts.over_lot, { size: (total / 1048576).toFixed(1), max: (lotLimit / 1048576).toFixed(0) }), files];
  }
  if (total > PAGE_LIMIT) return [texts.too_large, files];
  return [null, files];
}

// --- certificates -----------------------------------------------------------------------------

async function signingCert() {
  if (!holder) throw new PageError('certificate', texts.no_holder);
  const cert = await pick(holder, 'signing');
  if (cert.subject?.creditCode && cert.subject.creditCode !== root.dataset.creditCode) {
    throw new PageError('certificate', texts.wrong_org);
  }
  return cert;
}

async function encryptionCert() {
  const file = form.elements.encryption_cert.files[0];
  let der;
  if (file) {
    try {
      der = certificateDer(new Uint8Array(await file.arrayBuffer()));
    } catch {
      throw new PageError('certificate', texts.bad_enc);
    }
  } else {
    const entry = await pick(holder, 'encryption');
    if (!entry) throw new PageError('certificate', texts.no_enc);
    der = entry.der;
  }
  // the envelope's recipients are RSA (key transport) or P-256 (key agreement) here; an SM2
  // envelope needs SM2 encryption, which the page leaves to the tool (docs/browser-signing.md)
  let algorithm;
  try {
    algorithm = algorithmOf(parseCertificate(der));
  } catch {
    throw new PageError('certificate', texts.bad_enc);
  }
  if (algorithm === 'sm2') throw new PageError('certificate', texts.sm2_envelope);
  return der;
}

async function openingCert() {
  const r = await fetch(`/api/tenders/${tenderId}/lots/${root.dataset.lotId}/opening-certificate`,
                        { credentials: 'same-origin' });
  if (!r.ok) throw new PageError('certificate', texts.bad_opening);
  const der = certificateDer(new Uint8Array(await r.arrayBuffer()));
  if (!root.dataset.fingerprint || await fingerprint(der) !== root.dataset.fingerprint) {
    throw new PageError('certificate', texts.bad_opening);
  }
  return der;
}

class PageError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

// --- progress ---------------------------------------------------------------------------------

const card = document.getElementById('progress-card');
const sealBar = $('[data-seal-bar]'), uploadBar = $('[data-upload-bar]');
const statusLine = $('[data-status]'), failure = $('[data-failure]'), retry = $('[data-retry]');

function status(message) {
  statusLine.textContent = message;
}

function mb(n) {
  return `${(n / 1048576).toFixed(1)} MB`;
}

function onUploadProgress(sent, total) {
  uploadBar.max = total;
  uploadBar.value = sent;
  $('[data-upload-text]').textContent = `${mb(sent)} / ${mb(total)} (${Math.floor((100 * sent) / total)}%)`;
}

function onUploadStatus(kind, info) {
  if (kind === 'retry') status(fill(texts.retry, info));
  else status(texts[kind]);
}

function fail(err) {
  const message = err instanceof up.ApiError ? `${err.zh} / ${err.en}` :
    err instanceof FileChanged ? texts.changed + err.fileName : (err.messageZh || err.message);
  failure.textContent = `${texts.failed}${message} ${texts.resume_hint}`;
  failure.hidden = false;
}

// --- sealing and sending ----------------------------------------------------------------------

let running = null;  // {record, secret, files, cert} of this tab's upload

async function sendAndShow(job) {
  failure.hidden = true;
  retry.hidden = true;
  status(texts.pass2);
  try {
    const { bid, sha256 } = await up.send({ ...job, holder, onProgress: onUploadProgress, onStatus: onUploadStatus });
    await up.drop(slot);
    running = null;
    status(texts.done);
    await showReceipt(bid, { sha256, size: job.record.size, tenderId, lotNumber,
                             creditCode: root.dataset.creditCode });
  } catch (err) {
    if (err instanceof up.ApiError && err.code === 'bid_upload_restarted') return sendAndShow(job);
    fail(err);
    retry.hidden = false;
    throw err;
  }
}

retry.addEventListener('click', () => running && sendAndShow(running).catch(() => {}));

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const sheet = priceSheet();
  const [fileError, files] = chosenFiles(form.elements.files);
  showError('files', fileError);
  showError('certificate', null);
  if (!sheet || fileError) return;
  const button = form.querySelector('[type=submit]');
  button.disabled = true;
  try {
    const cert = await signingCert();
    const recipients = [await encryptionCert(), await openingCert()];
    card.hidden = false;
    status(texts.pass1);
    // shown at the signing agent's terminal with each use of a token's key
    holder.description = fill(texts.agent_use, { code: root.dataset.code, lot: lotNumber });
    let done = 0;
    // each phase's time, as performance measures (bench/browser_seal.py reads them)
    performance.mark('seal:start');
    const secret = await prepare({
      holder, cert, recipients, files, priceJson: priceBytes(sheet),
      onBytes: (n, total) => { done += n; sealBar.max = total; sealBar.value = done; },
    });
    performance.measure('seal: pass 1 (zip, SHA-256, CRC-32, inner signature)', 'seal:start');
    const key = up.idempotencyKey();
    const upload = await up.start(tenderId, lotNumber, secret.size, key);
    const record = { slot, tenderId, lotNumber, key, uploadId: upload.id, partSize: upload.part_size,
                     size: secret.size, certDer: cert.der, created: Date.now() };
    await up.save(record, secret);
    running = { record, secret, files, cert };
    await sendAndShow(running);
  } catch (err) {
    if (err instanceof PageError) showError(err.field, err.message);
    else if (!running) { card.hidden = false; fail(err); }
  } finally {
    button.disabled = false;
  }
});

// --- the receipt ------------------------------------------------------------------------------

async function showReceipt(bid, expected) {
  const { receipt, checks } = await up.checkReceipt(bid, expected);
  const receiptCard = document.getElementById('receipt-card');
  $('[data-receipt-summary]', receiptCard).textContent = texts.received + up.beijing(receipt.received_at);
  const body = $('[data-receipt-checks]', receiptCard);
  body.replaceChildren(...checks.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.check = c.key;
    tr.dataset.ok = String(c.ok);
    for (const value of [texts[`check_${c.key}`], c.ok ? `✓ ${texts.ok}` : `✗ ${texts.bad}`, c.value ?? '']) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
  const links = $('[data-receipt-links]', receiptCard);
  const a = document.createElement('a');
  a.href = `/bids/${bid.id}`;
  a.textContent = texts.details;
  a.dataset.testid = 'seal-bid-link';
  links.replaceChildren(a);
  receiptCard.hidden = false;
  receiptCard.dataset.bid = bid.id;
}

// --- resuming after a closed tab --------------------------------------------------------------

async function offerResume() {
  let record;
  try {
    record = await up.load(slot);
  } catch {
    return;  // a record that no longer decrypts (the browser's key store was cleared)
  }
  if (!record) return;
  const box = document.getElementById('resume');
  let sent = 0;
  try {
    sent = (await up.progress(record.uploadId)).bytes_done;
  } catch (err) {
    if (err instanceof up.ApiError && (err.status === 404 || err.status === 410)) {
      await up.drop(slot);
      return;
    }
  }
  $('[data-resume-done]', box).textContent = `${mb(sent)} / ${mb(record.size)}`;
  $('[data-resume-files]', box).replaceChildren(...record.secret.files.map((f) => {
    const li = document.createElement('li');
    li.textContent = `${f.name} (${f.size.toLocaleString()} B)`;
    return li;
  }));
  box.hidden = false;
  const error = $('[data-resume-error]', box);
  $('[data-resume-drop]', box).addEventListener('click', async () => {
    await up.drop(slot);
    box.hidden = true;
  });
  $('[data-resume-go]', box).addEventListener('click', async () => {
    error.hidden = true;
    const files = [...$('[data-resume-input]', box).files];
    const missing = missingFiles(record.secret, files);
    try {
      if (missing.length) throw new PageError('resume', texts.missing + missing.join('、'));
      if (!holder) throw new PageError('resume', texts.no_holder);
      const entries = await holder.certificates();
      const cert = entries.find((e) => e.der.length === record.certDer.length &&
                                       e.der.every((b, i) => b === record.certDer[i]));
      if (!cert) throw new PageError('resume', texts.wrong_org);
      card.hidden = false;
      status(texts.checking);
      let done = 0;
      await up.checkFiles(record.secret, files, (n) => {
        done += n; sealBar.max = record.size; sealBar.value = done;
      });
      running = { record, secret: record.secret, files, cert };
      box.hidden = true;
      await sendAndShow(running);
    } catch (err) {
      error.textContent = err instanceof FileChanged ? texts.changed + err.fileName : err.message;
      error.hidden = false;
    }
  });
}

offerResume();
