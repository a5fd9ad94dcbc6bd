-- wrk script: POST pre-signed single-event webhooks, each with a distinct CloudEvents id.
--
-- wrk -t T -c C -d D -s bench/wrk_webhooks.lua URL -- <bodies file> <T>
-- The bodies file has one "<intuit-signature> <json body>" line per request (bench/bodies.py).
-- Thread k of T takes lines k, k+T, k+2T, ... so no two threads send the same event id.
-- If a thread runs out it starts over (re-sent ids are duplicates, not inserts); the count of
-- such wrap-arounds is printed so the caller can tell whether every request was an insert.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2] or "1")
  sigs, bodies = {}, {}
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == tid - 1 then
      local sig, body = line:match("^(%S+) (.*)$")
      table.insert(sigs, sig)
      table.insert(bodies, body)
    end
    line_no = line_no + 1
  end
  index, sent, wrapped = 0, 0, 0
end

function request()
  index = index + 1
  if index > #bodies then
    index = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/cloudevents+json",
    ["intuit-signature"] = sigs[index],
  }, bodies[index])
end

function done(summary, latency, requests)
  local sent_total, wrapped_total = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + (thread:get("sent") or 0)
    wrapped_total = wrapped_total + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"sent":%d,"wrapped":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, sent_total, wrapped_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
