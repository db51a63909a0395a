-- wrk script: POST a task with a fresh external_id per request (the common case: a workflow step
-- creating new tasks). Key from TASKDASH_KEY; each wrk thread gets its own key space.
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("prefix", string.format("wrk-%d-%d", os.time(), math.random(1, 1e9)))
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
end

function request()
  counter = counter + 1
  local body = string.format('{"title":"bench task %d","external_id":"%s:%d","priority_score":%d}',
    counter, prefix, counter, counter % 100)
  return wrk.format(nil, nil, nil, body)
end
