# R's concurrency: forked workers (parallel::mclapply) and PSOCK clusters.

skip_if_not_installed("jsonlite")
skip_on_os("windows")

test_that("mclapply workers' jobs arrive exactly once, as subjobs, and so do the parent's", {
  dir <- fresh_client()
  results <- with_job("refit", kind = "refit", {
    refit <- job_id()
    # One fork per element: each child starts, reports and ends its own job, then exits
    # through mcexit() without any shutdown.
    parallel::mclapply(1:8, function(i) {
      with_job(paste0("tool-", i), kind = "tool", {
        job_metric("r2", i / 10)
        Sys.getpid()
      })
    }, mc.cores = 4, mc.preschedule = FALSE)
  })
  pids <- unlist(results)
  expect_length(pids, 8)
  expect_false(any(pids == Sys.getpid()))
  events <- written(dir)
  expect_length(events, 2 + 8 * 3)
  expect_equal(length(unique(vapply(events, function(e) e$id, ""))), length(events))
  refit <- Filter(function(e) e$entity$kind == "refit", events)
  expect_equal(vapply(refit, function(e) e$kind, ""), c("started", "finished"))
  tools <- Filter(function(e) e$entity$kind == "tool", events)
  expect_setequal(unique(vapply(tools, function(e) e$entity$name, "")), paste0("tool-", 1:8))
  for (name in paste0("tool-", 1:8)) {
    mine <- Filter(function(e) e$entity$name == name, tools)
    expect_equal(vapply(mine, function(e) e$kind, ""), c("started", "metric", "finished"),
                 label = name)
    expect_equal(mine[[1]]$entity$parent, refit[[1]]$entity$id)
  }
  wafermon_shutdown()
})

test_that("a PSOCK cluster works when each worker calls wafermon_init", {
  dir <- tempfile("wafermon-psock-")
  dir.create(dir)
  cl <- parallel::makePSOCKcluster(2)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE))
  parallel::clusterCall(cl, function(paths) .libPaths(paths), .libPaths())
  parallel::clusterCall(cl, function(dir, base) {
    # Each worker writes files of its own.
    config <- utils::modifyList(base, list(direct_backends = list(list(
      type = "filesystem", path = file.path(dir, paste0("data-", Sys.getpid()))))))
    wafermon::wafermon_init(config)
    NULL
  }, dir, config_in(dir))
  out <- parallel::parLapply(cl, 1:6, function(i) {
    wafermon::with_job(paste0("chart-", i), kind = "spc", {
      wafermon::job_metric("cpk", 1 + i / 10)
      i
    })
  })
  expect_equal(unlist(out), 1:6)
  # The workers deliver at exit.
  parallel::stopCluster(cl)
  events <- eventually(60, "the workers' events are written", function() {
    events <- read_events(dir)
    if (length(events) >= 18) events else NULL
  })
  expect_length(events, 18)
  names <- vapply(Filter(function(e) e$kind == "finished", events), function(e) e$entity$name, "")
  expect_setequal(names, paste0("chart-", 1:6))
})
