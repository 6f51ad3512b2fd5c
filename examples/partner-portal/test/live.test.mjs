// The event stream parser of src/live.ts, on the cases a network makes: lines cut anywhere
// between chunks, CRLF and CR line ends, multi-line data, comments, ids kept across events.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const dir = mkdtempSync(join(tmpdir(), "portal-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
await build({ entryPoints: ["src/live.ts"], outfile: join(dir, "live.mjs"), bundle: true, format: "esm", logLevel: "warning" });
const { EventStreamParser } = await import(pathToFileURL(join(dir, "live.mjs")).href);

function parse(...chunks) {
  const events = [];
  const parser = new EventStreamParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

test("events, whatever the chunks", () => {
  const text = ': keep-alive\n\nid: 7.1\nevent: notification\ndata: {"id":"a"}\n\nid: 7.2\nevent: notification\ndata: {"id":"b"}\n\n';
  const whole = parse(text).events;
  assert.deepEqual(whole, [
    { id: "7.1", event: "notification", data: '{"id":"a"}' },
    { id: "7.2", event: "notification", data: '{"id":"b"}' },
  ]);
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(parse(text.slice(0, cut), text.slice(cut)).events, whole, `cut at ${cut}`);
  }
});

test("CRLF and CR line ends, a CRLF cut in two", () => {
  // A CR at the end of a chunk may be half a CRLF: its line ends when the next chunk comes.
  assert.deepEqual(parse("data: one\r\n\r\ndata: two\r\r").events.map((e) => e.data), ["one"]);
  assert.deepEqual(parse("data: one\r\n\r\ndata: two\r\r", ": ping\n").events.map((e) => e.data), ["one", "two"]);
  assert.deepEqual(parse("data: x\r", "\n\r", "\n").events.map((e) => e.data), ["x"]);
});

test("multi-line data, fields without a space or a value, unknown fields", () => {
  const { events } = parse("data:first\ndata: second\ndata\nfoo: bar\n\n");
  assert.deepEqual(events, [{ id: undefined, event: "message", data: "first\nsecond\n" }]);
});

test("comments alone dispatch nothing; an id without data is kept for the next event", () => {
  const { events, parser } = parse(": ping\n\n: ping\n\nid: 9.9\n\ndata: later\n\n");
  assert.deepEqual(events, [{ id: "9.9", event: "message", data: "later" }]);
  assert.equal(parser.lastEventId, "9.9");
});

test("retry is read; an incomplete event waits for its blank line", () => {
  const { events, parser } = parse("retry: 2500\n", "data: not yet\n");
  assert.equal(parser.retry, 2500);
  assert.deepEqual(events, []);
});
