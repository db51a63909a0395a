-- wrk script for every bench scenario, chosen by BENCH_MODE:
--   create  a task with a fresh external_id per request (in milestone MILESTONE_ID when set:
--           the hot-milestone scenario, every request counting into the same milestone); with
--           IDEMPOTENCY_KEYS=1, each request also carries a fresh `Idempotency-Key`
--   rerun   keys rerun:1..5000, already stored: answered 200 with the stored task
--   storm   every connection creating the same ten keys
--   bulk    BULK_SIZE new tasks per request
--   events  BULK_SIZE new run events per request (`{"events": [...]}`, no sequence, no ts), to
--           run EVENT_RUN_FIRST + (thread - 1) % EVENT_RUNS of project EVENT_PROJECT: bench.py
--           runs one thread per connection here, so each connection keeps its run
--   get     GET the URL given to wrk (a list page, the summary)
--   claim   agents: POST the claim URL given to wrk as worker `prefix`; each claimed task's id
--           is queued and the thread's next request finishes it (PATCH status done with the
--           same worker_id) before it claims again (project CLAIM_PROJECT; see bench/claims.py)
--   304     GET the URL given to wrk with `If-None-Match: $IF_NONE_MATCH`: every answer must be
--           a 304; done() prints `non-304: N` (wrk itself counts only statuses >= 400)
-- The API key comes from TASKDASH_KEY. wrk counts non-2xx answers; bench.py checks in the
-- database that each run wrote the rows its answers claim. Only the 304 mode defines a
-- `response` hook: it makes wrk parse every answer's headers and call Lua for each, CPU that
-- the server and PostgreSQL share, so the other modes go without it.
local mode, size, counter = "create", 100, 0
local milestone = nil
local threads = {}

function setup(thread)
  -- `prefix` is a global of the thread's own Lua state: one key space per thread and run.
  table.insert(threads, thread)
  thread:set("prefix", string.format("wrk-%d-%d-%d", os.time(), math.random(1, 1e9), #threads))
  if os.getenv("BENCH_MODE") == "events" then
    local run = tonumber(os.getenv("EVENT_RUN_FIRST")) + (#threads - 1) % tonumber(os.getenv("EVENT_RUNS"))
    thread:set("events_path", string.format("/projects/%s/runs/%d/events", os.getenv("EVENT_PROJECT"), run))
  end
end

function init(args)
  mode = os.getenv("BENCH_MODE") or "create"
  size = tonumber(os.getenv("BULK_SIZE")) or 100
  milestone = tonumber(os.getenv("MILESTONE_ID") or "")
  keyed = os.getenv("IDEMPOTENCY_KEYS") == "1"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
  if mode == "304" then
    wrk.headers["If-None-Match"] = os.getenv("IF_NONE_MATCH")
    not_304 = 0
    -- Defined here, in this mode only: wrk asks each thread's state for `response` after init().
    response = function(status, headers, body)
      if status ~= 304 then
        not_304 = not_304 + 1
      end
    end
  elseif mode ~= "get" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
  if mode == "claim" then
    claimed = {}
    tasks_path = string.format("/projects/%s/tasks/", os.getenv("CLAIM_PROJECT"))
    -- A claim answers the task `in_progress`; a finished one is `done`: queue only the former.
    response = function(status, headers, body)
      if status == 200 and string.find(body, '"status":"in_progress"', 1, true) then
        table.insert(claimed, string.match(body, '^{"id":(%d+)'))
      end
    end
  end
end

local function task(title, key, priority)
  if milestone then
    return string.format('{"title":"%s","external_id":"%s","priority_score":%d,"milestone_id":%d}',
                         title, key, priority, milestone)
  end
  return string.format('{"title":"%s","external_id":"%s","priority_score":%d}', title, key, priority)
end

function request()
  counter = counter + 1
  local body
  if mode == "get" or mode == "304" then
    return wrk.format()
  elseif mode == "claim" then
    local id = table.remove(claimed)
    if id then
      return wrk.format("PATCH", tasks_path .. id, nil,
                        string.format('{"status":"done","worker_id":"%s"}', prefix))
    end
    return wrk.format("POST", nil, nil, string.format('{"worker_id":"%s"}', prefix))
  elseif mode == "rerun" then
    body = task("re-run", string.format("rerun:%d", math.random(1, 5000)), 1)
  elseif mode == "storm" then
    body = task("storm", string.format("storm:%d", math.random(1, 10)), 1)
  elseif mode == "bulk" then
    local items = {}
    for i = 1, size do
      items[i] = task("bench task " .. i, string.format("%s:%d:%d", prefix, counter, i), i % 100)
    end
    body = '{"tasks":[' .. table.concat(items, ",") .. ']}'
  elseif mode == "events" then
    -- bench/events.py binds the same columns in its ceiling (batch_variables): keep in step.
    local items = {}
    for k = 1, size do
      items[k] = string.format('{"event_id":"%s:%d:%d","event_type":"step.completed","step_name":"step-%d",'
                               .. '"status":"ok","duration_ms":%d,"payload":{"k":%d}}',
                               prefix, counter, k, k % 10, 10 * k, k)
    end
    return wrk.format(nil, events_path, nil, '{"events":[' .. table.concat(items, ",") .. ']}')
  else
    body = task("bench task " .. counter, string.format("%s:%d", prefix, counter), counter % 100)
    if keyed then
      local headers = {}
      for name, value in pairs(wrk.headers) do
        headers[name] = value
      end
      headers["Idempotency-Key"] = string.format('"%s:%d"', prefix, counter)
      return wrk.format(nil, nil, headers, body)
    end
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  -- Runs in wrk's main Lua state, where init() never ran: read the mode from the environment.
  if os.getenv("BENCH_MODE") == "304" then
    local total = 0
    for _, thread in ipairs(threads) do
      total = total + (thread:get("not_304") or 0)
    end
    io.write(string.format("non-304: %d\n", total))
  end
end
