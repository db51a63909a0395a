-- wrk script: one page of 100 tasks from the work queue.
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TASKDASH_KEY")
end
