-- wrk script for every bench scenario, chosen by BENCH_MODE:
--   create  a task with a fresh external_id per request
--   rerun   keys rerun:1..5000, already stored: answered 200 with the stored task
--   storm   every connection creating the same ten keys
--   bulk    BULK_SIZE new tasks per request
--   list    GET the URL given to wrk
-- The API key comes from TASKDASH_KEY. Answers other than the scenario's expected status
-- (201 for create and bulk, 200 for rerun, list; 200 or 201 for storm) are counted and reported
-- on stderr as "unexpected statuses: N".
local mode, size, counter = "create", 100, 0
local threads = {}

function setup(thread)
  -- `prefix` and `unexpected` are globals of the thread's own Lua state.
  thread:set("prefix", string.format("wrk-%d-%d-%d", os.time(), math.random(1, 1e9), #threads))
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
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

local expected = {create = {[201] = true}, bulk = {[201] = true}, rerun = {[200] = true},
                  list = {[200] = true}, storm = {[200] = true, [201] = true}}

function response(status, headers, body)
  if not expected[mode][status] then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
  end
  io.stderr:write(string.format("unexpected statuses: %d\n", total))
end
