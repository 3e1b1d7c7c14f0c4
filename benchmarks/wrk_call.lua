-- wrk script for the HTTP benchmark: every request starts a new call with a unique call_id
-- (run tag, thread number, counter), so the routing endpoint decides and stores each one.
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

function init(args)
  tag = args[1] or tostring(os.time())
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"call_id":"bench-%s-%d-%d","from":"+12125551234","to":"+12125550111"}',
    tag, tid, counter)
  return wrk.format("POST", "/v1/calls", nil, body)
end
