-- ids.lua - wrk script for bench/sidebyside.sh: every request carries a unique id in its query string,
-- GET <BENCH_PATH>?id=<BENCH_PREFIX>-<thread>-<n>, so the online and target nginx access logs can be
-- compared request by request (missing and duplicated replays), not only counted.
--
-- Environment (read when the script loads, so that wrk's main state sees the same values as its threads):
--   BENCH_PREFIX    id prefix, unique per phase of a run (default "x")
--   BENCH_PATH      URL path (default "/")
--   BENCH_DELAY_MS  pause before every request of a connection, in ms (default 0 = uncapped). With
--                   `Connection: close` every request opens a new connection, so C connections give at
--                   most C * 1000 / BENCH_DELAY_MS connections per second. wrk only calls delay() when the
--                   script defines it, so the uncapped points pay no timer per request.
local prefix = os.getenv("BENCH_PREFIX") or "x"
local path = os.getenv("BENCH_PATH") or "/"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
function request()
  n = n + 1
  -- nil method and headers: wrk's own (GET, and the -H headers such as Connection: close).
  return wrk.format(nil, path .. "?id=" .. prefix .. "-" .. tostring(tid) .. "-" .. n)
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
