# The API as an R user calls it, and its failure paths.

skip_if_not_installed("jsonlite")

kinds_of <- function(events) vapply(events, function(e) e$kind, "")

test_that("with_job records started and finished and returns the value of its code", {
  dir <- fresh_client()
  value <- with_job("lot-dispatch", kind = "lot", key = "LOT-1",
                    attrs = list(recipe = "R7", slots = 25L, temp_c = 21.5, rework = FALSE), {
    job_progress(30, "coat")
    job_metric("thickness_nm", 101.2)
    job_log("info", "wafer ", 7, " coated")
    "done"
  })
  expect_equal(value, "done")
  events <- written(dir)
  expect_equal(kinds_of(events), c("started", "progress", "metric", "log", "finished"))
  started <- events[[1]]
  expect_equal(started$entity$kind, "lot")
  expect_equal(started$entity$key, "LOT-1")
  expect_equal(started$attrs, list(recipe = "R7", rework = FALSE, slots = 25L, temp_c = 21.5))
  expect_equal(events[[2]]$progress, 30)
  expect_equal(events[[2]]$message, "coat")
  expect_equal(events[[3]]$metrics$thickness_nm, 101.2)
  expect_equal(events[[4]]$message, "wafer 7 coated")
  finished <- events[[5]]
  expect_equal(finished$status, "succeeded")
  expect_setequal(names(finished$metrics),
                  c("cpu_user_s", "cpu_system_s", "max_rss_bytes", "duration_s"))
  expect_true(all(unlist(finished$metrics) >= 0))
  expect_equal(unique(vapply(events, function(e) e$entity$id, "")), started$entity$id)
  wafermon_shutdown()
})

test_that("code is evaluated lazily, once, in the caller's environment", {
  dir <- fresh_client()
  counter <- 0
  with_job("count", counter <- counter + 1)
  expect_equal(counter, 1)
  wafermon_shutdown()
})

test_that("nested with_job calls are subjobs of the enclosing job", {
  dir <- fresh_client()
  with_job("refit", {
    outer <- job_id()
    with_job("tool ETCH-01", {
      expect_false(identical(job_id(), outer))
      job_metric("r2", 0.97)
    })
    with_job("tool ETCH-02", kind = "tool", NULL)
  })
  events <- written(dir)
  started <- Filter(function(e) e$kind == "started", events)
  expect_length(started, 3)
  expect_equal(started[[2]]$entity$kind, "subjob")
  expect_equal(started[[2]]$entity$parent, started[[1]]$entity$id)
  expect_equal(started[[3]]$entity$kind, "tool")
  expect_equal(started[[3]]$entity$parent, started[[1]]$entity$id)
  expect_null(started[[1]]$entity$parent)
  wafermon_shutdown()
})

test_that("an error inside records failed with its message and is signalled again", {
  dir <- fresh_client()
  e <- tryCatch(with_job("etch", stop("chamber fault")), error = function(e) e)
  expect_equal(conditionMessage(e), "chamber fault")
  events <- written(dir)
  expect_equal(kinds_of(events), c("started", "failed"))
  expect_equal(events[[2]]$message, "chamber fault")
  expect_equal(events[[2]]$status, "failed")
  # The job is no longer open.
  expect_error(job_progress(1), class = "wafermon_argument_error")
  wafermon_shutdown()
})

test_that("an interrupt (a real SIGINT) records canceled and goes on", {
  skip_on_os("windows")
  dir <- fresh_client()
  caught <- tryCatch(with_job("long", {
    tools::pskill(Sys.getpid(), tools::SIGINT)
    Sys.sleep(5) # R sees the interrupt here
    "not interrupted"
  }), interrupt = function(c) "interrupted")
  expect_equal(caught, "interrupted")
  events <- written(dir)
  expect_equal(kinds_of(events), c("started", "canceled"))
  expect_equal(events[[2]]$message, "interrupted")
  wafermon_shutdown()
})

test_that("a warning inside is logged on the job and goes on; the job finishes", {
  dir <- fresh_client()
  expect_warning(value <- with_job("fit", {
    warning("singular fit")
    2
  }), "singular fit")
  expect_equal(value, 2)
  events <- written(dir)
  expect_equal(kinds_of(events), c("started", "log", "finished"))
  expect_equal(events[[2]]$level, "warning")
  expect_equal(events[[2]]$message, "singular fit")
  wafermon_shutdown()
})

test_that("return() from inside the block finishes the job", {
  dir <- fresh_client()
  early <- function() {
    with_job("early", return("left early"))
    "not here"
  }
  expect_equal(early(), "left early")
  events <- written(dir)
  expect_equal(kinds_of(events), c("started", "finished"))
  wafermon_shutdown()
})

test_that("outside a job the job calls give a wafermon_error saying so", {
  dir <- fresh_client()
  for (call in list(quote(job_progress(10)), quote(job_metric("x", 1)),
                    quote(job_log("info", "x")), quote(job_id()))) {
    e <- tryCatch(eval(call), error = function(e) e)
    expect_s3_class(e, "wafermon_error")
    expect_match(conditionMessage(e), "no job is open")
  }
  wafermon_shutdown()
})

test_that("bad arguments are wafermon_errors naming the argument, never a crash", {
  dir <- fresh_client()
  with_job("args", {
    expect_error(job_metric(NA, 1), class = "wafermon_argument_error")
    expect_error(job_metric("x", NA), class = "wafermon_argument_error")
    expect_error(job_metric(NULL, 1), class = "wafermon_argument_error")
    expect_error(job_metric("x", "1"), class = "wafermon_argument_error")
    expect_error(job_metric(c("a", "b"), 1), class = "wafermon_argument_error")
    expect_error(job_progress(NA_real_), class = "wafermon_argument_error")
    expect_error(job_log(NA, "x"), class = "wafermon_argument_error")
    e <- tryCatch(job_progress(120), error = function(e) e)
    expect_s3_class(e, "wafermon_event_error")
    expect_equal(e$path, "progress")
    e <- tryCatch(job_log("loud", "x"), error = function(e) e)
    expect_s3_class(e, "wafermon_argument_error")
    expect_match(conditionMessage(e), "level")
    # Text in another encoding is translated; bytes that are not text are refused.
    latin1 <- iconv("caf\u00e9", "UTF-8", "latin1")
    job_log("info", latin1) # marked latin1: converted to UTF-8
    raw_bytes <- rawToChar(as.raw(c(0x63, 0xe9, 0xff)))
    Encoding(raw_bytes) <- "bytes"
    e <- tryCatch(job_log("info", raw_bytes), error = function(e) e)
    expect_s3_class(e, "wafermon_argument_error")
    expect_match(conditionMessage(e), "message is marked \"bytes\"")
    invalid <- rawToChar(as.raw(c(0x63, 0xff, 0x65)))
    Encoding(invalid) <- "UTF-8"
    e <- tryCatch(job_metric(invalid, 1), error = function(e) e)
    expect_s3_class(e, "wafermon_argument_error")
    expect_match(conditionMessage(e), "name is not valid UTF-8")
  })
  e <- tryCatch(with_job(NA, 1), error = function(e) e)
  expect_s3_class(e, "wafermon_argument_error")
  e <- tryCatch(with_job("a", 1, attrs = list(list(1, 2))), error = function(e) e)
  expect_s3_class(e, "wafermon_event_error")
  e <- tryCatch(with_job("a", 1, attrs = list(ok = "x", bad = list(1))), error = function(e) e)
  expect_s3_class(e, "wafermon_event_error")
  expect_equal(e$path, "attrs.bad")
  events <- written(dir)
  logs <- Filter(function(e) e$kind == "log", events)
  expect_equal(logs[[1]]$message, "caf\u00e9")
  wafermon_shutdown()
})

test_that("a bad config names its path, as a list, as JSON and as a file", {
  e <- tryCatch(wafermon_init(list(queue = list(capacity_bytes = "lots"))),
                error = function(e) e)
  expect_s3_class(e, c("wafermon_config_error", "wafermon_error", "error"))
  expect_equal(e$path, "queue.capacity_bytes")
  expect_match(conditionMessage(e), "at queue.capacity_bytes:")
  e <- tryCatch(wafermon_init('{"batch": {"max_events": -1}}'), error = function(e) e)
  expect_s3_class(e, "wafermon_config_error")
  expect_equal(e$path, "batch.max_events")
  file <- tempfile(fileext = ".json")
  writeLines('{"direct_backends": [{"type": "nope"}]}', file)
  e <- tryCatch(wafermon_init(file), error = function(e) e)
  expect_s3_class(e, "wafermon_config_error")
  expect_match(e$path, "^direct_backends")
  e <- tryCatch(wafermon_init(tempfile()), error = function(e) e)
  expect_s3_class(e, "wafermon_config_error")
  expect_match(conditionMessage(e), "cannot read config file")
  expect_error(wafermon_init(42), class = "wafermon_argument_error")
})

test_that("a config file and a JSON string work like a list", {
  dir <- tempfile("wafermon-test-")
  dir.create(dir)
  file <- file.path(dir, "wafermon.json")
  writeLines(as_json(config_in(dir)), file)
  wafermon_init(file)
  with_job("from-file", NULL)
  expect_equal(kinds_of(written(dir)), c("started", "finished"))
  wafermon_shutdown()
})

test_that("emit takes named fields or a JSON string, and refuses a bad event by path", {
  dir <- fresh_client()
  emit(kind = "heartbeat", entity = list(kind = "tool", id = "ETCH-01"))
  emit('{"kind": "log", "message": "from JSON", "entity": {"kind": "tool", "id": "ETCH-02"}}')
  e <- tryCatch(emit(kind = "progress", progress = 120, entity = list(kind = "job", id = "x")),
                error = function(e) e)
  expect_s3_class(e, "wafermon_event_error")
  expect_equal(e$path, "progress")
  e <- tryCatch(emit(kind = "heartbeat"), error = function(e) e)
  expect_s3_class(e, "wafermon_event_error")
  events <- written(dir)
  expect_equal(kinds_of(events), c("heartbeat", "log"))
  expect_equal(events[[2]]$message, "from JSON")
  wafermon_shutdown()
})

test_that("stats count what was emitted and delivered; shutdown returns them; then closed", {
  dir <- fresh_client()
  with_job("counted", job_progress(50))
  wafermon_flush(30)
  stats <- wafermon_stats()
  expect_equal(stats$emitted, 3)
  expect_equal(stats$backends[[1]]$type, "filesystem")
  expect_equal(stats$backends[[1]]$sent, 3)
  final <- wafermon_shutdown()
  expect_equal(final$emitted, 3)
  expect_null(wafermon_shutdown())
})
