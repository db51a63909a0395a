-- wrk script: a duplicate storm, every connection creating the same ten keys.
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
end

function request()
  local body = string.format('{"title":"storm","external_id":"storm:%d","priority_score":1}',
    math.random(1, 10))
  return wrk.format(nil, nil, nil, body)
end
