-- wrk script for every bench scenario, chosen by BENCH_MODE:
--   create  a task with a fresh external_id per request
--   rerun   keys rerun:1..5000, already stored: answered 200 with the stored task
--   storm   every connection creating the same ten keys
--   bulk    BULK_SIZE new tasks per request
--   list    GET the URL given to wrk
-- The API key comes from TASKDASH_KEY.
local mode, size, counter, prefix = "create", 100, 0, ""

function setup(thread)
  thread:set("prefix", string.format("wrk-%d-%d", os.time(), math.random(1, 1e9)))
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
