-- wrk script: bulk creates of BULK_SIZE new tasks each (fresh external_ids every request).
local counter = 0
local prefix = ""
local size = 100

function setup(thread)
  thread:set("prefix", string.format("bulk-%d-%d", os.time(), math.random(1, 1e9)))
end

function init(args)
  size = tonumber(os.getenv("BULK_SIZE")) or 100
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
end

function request()
  counter = counter + 1
  local items = {}
  for i = 1, size do
    items[i] = string.format('{"title":"bench task %d","external_id":"%s:%d:%d","priority_score":%d}',
      i, prefix, counter, i, i % 100)
  end
  return wrk.format(nil, nil, nil, '{"tasks":[' .. table.concat(items, ",") .. ']}')
end
