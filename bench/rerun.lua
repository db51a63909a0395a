-- wrk script: the re-run case. Keys rerun:1..rerun:5000 are already stored (bench.py creates
-- them), so almost every request is answered 200 with the stored task.
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
end

function request()
  local body = string.format('{"title":"re-run","external_id":"rerun:%d","priority_score":1}',
    math.random(1, 5000))
  return wrk.format(nil, nil, nil, body)
end
