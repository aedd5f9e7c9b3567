-- wrk script: each connection waits 2 ms between requests (about 450 requests/s per connection
-- on the lab), a production-like rate instead of a saturating flood.
function delay()
  return 2
end
