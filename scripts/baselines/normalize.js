#!/usr/bin/env node
// Baseline for scripts/compare-baselines: DynamoDB stream events to gzipped, tab-separated
// `changes` and `attributes` rows per day, written the way a Node.js Lambda handler commonly is
// (JSON.parse, zlib, fs; no SDK; one event at a time).
//
// Usage: normalize.js EVENTS.jsonl OUT_DIR   (one Lambda event per line)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const zlib = require('node:zlib');

const COMMON = 'event_name\tsequence_number\tevent_time\ttenant\titem_key\tpk\tsk';
const HEADERS = {
  changes: `${COMMON}\tevent_id\tstream_view_type\tsize_bytes\n`,
  attributes: `${COMMON}\tpath\ttype\tvalue\n`,
};

const escape = (v) =>
  v === null || v === undefined
    ? '\\N'
    : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\\t').replace(/\n/g, '\u240a').replace(/\r/g, '\u240d');
const row = (fields) => fields.map(escape).join('\t') + '\n';

function scalar(kind, value) {
  if (kind === 'BOOL') return value ? 'true' : 'false';
  if (kind === 'NULL') return null;
  return value; // S, N, and B (already base64 in the event)
}

function leaves(p, attribute, out) {
  const [[kind, value]] = Object.entries(attribute);
  if (kind === 'M') {
    const names = Object.keys(value);
    if (names.length === 0) out.push([p, 'M', null]);
    for (const name of names) leaves(`${p}.${name}`, value[name], out);
  } else if (kind === 'L') {
    if (value.length === 0) out.push([p, 'L', null]);
    value.forEach((inner, i) => leaves(`${p}[${i}]`, inner, out));
  } else if (kind === 'SS' || kind === 'NS' || kind === 'BS') {
    value.forEach((element, i) => out.push([`${p}[${i}]`, kind, element]));
  } else {
    out.push([p, kind, scalar(kind, value)]);
  }
}

function handle(event, outDir, number) {
  const tables = new Map();
  const add = (table, day, text) => {
    const k = `${table}/dt=${day}`;
    if (!tables.has(k)) tables.set(k, { table, rows: [] });
    tables.get(k).rows.push(text);
  };
  for (const record of event.Records) {
    const change = record.dynamodb;
    const at = new Date(change.ApproximateCreationDateTime * 1000).toISOString();
    const day = at.slice(0, 10);
    const keys = change.Keys;
    const flat = {};
    for (const k of Object.keys(keys).sort()) flat[k] = Object.values(keys[k])[0];
    const common = [
      record.eventName,
      change.SequenceNumber,
      `${day} ${at.slice(11, 23)}`,
      null,
      JSON.stringify(flat),
      keys.pk?.S,
      keys.sk?.S,
    ];
    add('changes', day, row([...common, record.eventID, change.StreamViewType, String(change.SizeBytes)]));
    if (change.NewImage) {
      const found = [];
      for (const [name, value] of Object.entries(change.NewImage)) leaves(name, value, found);
      for (const [p, kind, value] of found) add('attributes', day, row([...common, p, kind, value]));
    }
  }
  for (const [folder, { table, rows }] of tables) {
    const dir = path.join(outDir, folder);
    fs.mkdirSync(dir, { recursive: true });
    const body = zlib.gzipSync(HEADERS[table] + rows.join(''), { level: 1 });
    fs.writeFileSync(path.join(dir, `event${String(number).padStart(6, '0')}.tsv.gz`), body);
  }
}

async function main() {
  const [events, outDir] = process.argv.slice(2);
  const lines = readline.createInterface({ input: fs.createReadStream(events), crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) {
    if (line.trim()) handle(JSON.parse(line), outDir, number);
    number += 1;
  }
}

main();
