-- The load of bench/ingest.py --client wrk: every ballot of a round sent once, over wrk's
-- keep-alive connections (wrk -s bench/ingest.lua URL -- BODIES PATH FILLER THREADS).
--
-- BODIES holds one request body a line; thread i of THREADS sends the lines i, i + THREADS, ...
-- as POSTs to PATH and stops once each of them is answered. A connection whose thread has no
-- ballot left waits (delay()) instead of sending; should one still be asked for a request, it
-- sends GET FILLER (a small read that answers 200; a first ballot answers 201 or an error, never
-- 200), so the ballots' answers are told apart by status.
-- wrk runs for its -d duration whatever its threads do, so a thread that has all its answers
-- prints "KURULTAI-WRK-DONE" and stops; bench/ingest.py then interrupts wrk (SIGINT), and done()
-- prints one line, "KURULTAI-WRK {json}", that bench/ingest.py reads. A thread's time runs from
-- the end of its init (before its connections open) to its last ballot's answer.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } kurultai_timespec;
int clock_gettime(int clock_id, kurultai_timespec *tp);
]])
local CLOCK_MONOTONIC = 1

local function now_us()
   local t = ffi.new("kurultai_timespec")
   ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
   return tonumber(t.tv_sec) * 1e6 + tonumber(t.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local requests = {}
local sent, answered, expected = 0, 0, 0
local filler
local verified = false
local started
statuses = {}
elapsed_us = -1

function init(args)
   local file, path, filler_path, count = args[1], args[2], args[3], tonumber(args[4])
   local line_no = 0
   for line in io.lines(file) do
      if line_no % count == id then
         requests[#requests + 1] = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, line)
      end
      line_no = line_no + 1
   end
   expected = #requests
   filler = wrk.format("GET", filler_path, {})
   started = now_us()
end

function request()
   -- wrk calls thread 0's request() once before the run, to see how many requests it returns
   -- (script_verify_request): that call gets the filler, not a ballot.
   if id == 0 and not verified then
      verified = true
      return filler
   end
   if sent < expected then
      sent = sent + 1
      return requests[sent]
   end
   return filler
end

function delay()
   if sent < expected then
      return 0
   end
   return 600000 -- ms: no ballot left for this connection; the thread stops first
end

function response(status, headers, body)
   if status ~= 200 then
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      answered = answered + 1
      if answered == expected then
         elapsed_us = now_us() - started
         io.write("KURULTAI-WRK-DONE\n")
         io.flush()
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local parts = {}
   local total = {}
   local elapsed = 0
   for _, thread in ipairs(threads) do
      elapsed = math.max(elapsed, thread:get("elapsed_us"))
      for key, n in pairs(thread:get("statuses")) do
         total[key] = (total[key] or 0) + n
      end
   end
   for key, n in pairs(total) do
      parts[#parts + 1] = string.format('"%s": %d', key, n)
   end
   io.write(string.format(
      'KURULTAI-WRK {"elapsed_us": %d, "p50_us": %d, "p99_us": %d, "requests": %d, "errors": %d, "statuses": {%s}}\n',
      elapsed, latency:percentile(50), latency:percentile(99), summary.requests,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      table.concat(parts, ", ")))
end
