-- wrk script: every request carries a unique id (?id=RUN-N, one wrk thread), so the online and target
-- access logs can be compared request by request. With DELAY > 0 each new connection waits DELAY ms
-- after connecting before it writes its request (wrk's delay() runs before the write), like a client
-- that opens its connection and sends a few ms later.
local counter = 0
local run = os.getenv("RUN") or "run"
local pause = tonumber(os.getenv("DELAY") or "0")
local path = os.getenv("REQUEST_PATH") or "/1k"

if pause > 0 then
  function delay()
    return pause
  end
end

function request()
  counter = counter + 1
  return wrk.format("GET", path .. "?id=" .. run .. "-" .. counter)
end
