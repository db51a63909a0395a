-- wrk script for every bench scenario, chosen by BENCH_MODE:
--   create  a task with a fresh external_id per request
--   rerun   keys rerun:1..5000, already stored: answered 200 with the stored task
--   storm   every connection creating the same ten keys
--   bulk    BULK_SIZE new tasks per request
--   list    GET the URL given to wrk
-- The API key comes from TASKDASH_KEY. wrk counts non-2xx answers; bench.py checks in the
-- database that each run wrote the rows its answers claim (no Lua `response` hook: it would
-- make wrk parse every answer, with CPU the server and PostgreSQL share).
local mode, size, counter = "create", 100, 0
local threads = 0

function setup(thread)
  -- `prefix` is a global of the thread's own Lua state: one key space per thread and run.
  threads = threads + 1
  thread:set("prefix", string.format("wrk-%d-%d-%d", os.time(), math.random(1, 1e9), threads))
end

function init(args)
  mode = os.getenv("BENCH_MODE") or "create"
  size = tonumber(os.getenv("BULK_SIZE")) or 100
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
  if mode ~= "list" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

local function task(title, key, priority)
  return string.format('{"title":"%s","external_id":"%s","priority_score":%d}', title, key, priority)
end

function request()
  counter = counter + 1
  local body
  if mode == "list" then
    return wrk.format()
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
  else
    body = task("bench task " .. counter, string.format("%s:%d", prefix, counter), counter % 100)
  end
  return wrk.format(nil, nil, nil, body)
end

