# The shared conformance vectors (core/conformance, format in its README) through the R
# package: error_kinds.json, scenarios/*.json, config_cases.json, event_cases.json and
# legacy_cases.json, the files every language's suite runs.

root <- conformance_dir()
skip_if(is.null(root), "no core/conformance here (a built package checked on its own)")
skip_if_not_installed("jsonlite")

native <- function(x) wafermon:::.check(x)

# NULL when `expr` succeeds; else its error as list(kind, message).
error_of <- function(expr) {
  tryCatch({
    expr
    NULL
  }, wafermon_error = function(e) list(kind = e$kind, message = conditionMessage(e)))
}

expect_error_like <- function(error, expected, default_kind, label) {
  expected$kind <- if (is.null(expected$kind)) default_kind else expected$kind
  expect_false(is.null(error), label = paste(label, "fails"))
  if (is.null(error)) return(invisible())
  problem <- native(wafermon:::wm_conformance_check_error(error$kind, error$message,
                                                          as_json(expected)))
  expect_equal(problem, "", label = label)
}

test_that("error_kinds.json is the table of condition classes", {
  file <- read_json_file(file.path(root, "error_kinds.json"))
  kinds <- vapply(file$kinds, function(k) k$name, "")
  expect_setequal(names(wafermon:::.error_classes), c(kinds, "panic"))
  expect_setequal(native(wafermon:::wm_error_kinds()), kinds)
  for (class in wafermon:::.error_classes) {
    expect_match(class, "^wafermon_[a-z]+_error$")
  }
  withr_env <- Sys.getenv("RUST_BACKTRACE")
  Sys.setenv(RUST_BACKTRACE = "0")
  on.exit(Sys.setenv(RUST_BACKTRACE = withr_env))
  e <- tryCatch(native(wafermon:::wm_debug_panic()), error = function(e) e)
  expect_s3_class(e, c("wafermon_panic_error", "wafermon_error", "error"))
  expect_match(conditionMessage(e), "panic in the wafermon library: wm_debug_panic")
})

run_step <- function(step, jobs, ids) {
  op <- step$op
  if (op %in% c("job_start", "subjob_start")) {
    parent <- if (op == "job_start") FALSE else jobs[[step$parent]]
    job <- wafermon:::.job_start(step$name, kind = step$kind, key = step$key, id = step$id,
                                 attrs = if (is.null(step$attrs)) list() else step$attrs,
                                 parent = parent)
    return(list(as = step$as, job = job, id = native(wafermon:::wm_job_id(job))))
  }
  if (op == "emit") {
    event <- if (is.character(step$event)) step$event else as_json(step$event)
    native(wafermon:::wm_emit(event))
    return(NULL)
  }
  job <- jobs[[step$job]]
  switch(op,
    progress = native(wafermon:::wm_job_progress(job, step$percent, step$message)),
    metric = native(wafermon:::wm_job_metric(job, step$name, step$value)),
    log = native(wafermon:::wm_job_log(job, step$level, step$message)),
    finish = wafermon:::.job_end(job, "finish"),
    fail = wafermon:::.job_end(job, "fail", step$message),
    cancel = wafermon:::.job_end(job, "cancel", step$message),
    drop = wafermon:::.job_end(job, "drop"),
    stop("unknown op ", op)
  )
  NULL
}

scenarios <- sort(list.files(file.path(root, "scenarios"), pattern = "\\.json$"))

test_that("there are scenarios", {
  expect_gt(length(scenarios), 0)
})

for (file in scenarios) {
  scenario <- read_json_file(file.path(root, "scenarios", file))
  test_that(paste0("scenario ", file, ": ", scenario$name), {
    dir <- tempfile("wafermon-scenario-")
    dir.create(dir)
    config <- if (is.null(scenario$config)) "{}" else as_json(scenario$config)
    wafermon_init(native(wafermon:::wm_conformance_config(dir, config)))
    jobs <- list()
    aliases <- character()
    ids <- character()
    for (i in seq_along(scenario$steps)) {
      step <- scenario$steps[[i]]
      label <- paste("step", i, step$op)
      if (!is.null(step$error)) {
        expect_error_like(error_of(run_step(step, jobs, ids)), step$error, "invalid_event", label)
        next
      }
      started <- run_step(step, jobs, ids)
      if (!is.null(started)) {
        jobs[[started$as]] <- started$job
        aliases <- c(aliases, started$as)
        ids <- c(ids, started$id)
      }
    }
    wafermon_shutdown(30)
    problem <- native(wafermon:::wm_conformance_check_events(
      file.path(dir, "data"), as_json(scenario$expect), aliases, ids))
    expect_equal(problem, "")
  })
}

test_that("config_cases.json: accepted configs pass, others name the path", {
  cases <- read_json_file(file.path(root, "config_cases.json"))
  expect_gt(length(cases), 40)
  for (case in cases) {
    error <- error_of(native(wafermon:::wm_check_config(as_json(case$config))))
    if (isTRUE(case$ok)) {
      expect_null(error, label = case$name)
    } else {
      expect_error_like(error, case$error, "invalid_config", case$name)
    }
  }
})

test_that("event_cases.json: accepted events are written as given, others name the path", {
  cases <- jsonlite::fromJSON(file.path(root, "event_cases.json"), simplifyVector = FALSE,
                              bigint_as_char = TRUE)
  expect_gt(length(cases), 30)
  dir <- tempfile("wafermon-events-")
  dir.create(dir)
  wafermon_init(native(wafermon:::wm_conformance_config(dir, "{}")))
  with_attrs <- list()
  for (case in cases) {
    # Events given as text go as that raw text (malformed JSON, exact integers).
    event <- if (is.character(case$event)) case$event else as_json(case$event)
    error <- error_of(native(wafermon:::wm_emit(event)))
    if (isTRUE(case$ok)) {
      expect_null(error, label = case$name)
      if (!is.null(case$attrs)) with_attrs[[length(with_attrs) + 1L]] <- case
    } else {
      expect_error_like(error, case$error, "invalid_event", case$name)
    }
  }
  wafermon_shutdown(30)
  files <- list.files(file.path(dir, "data"), pattern = "\\.jsonl$", recursive = TRUE,
                      full.names = TRUE)
  lines <- unlist(lapply(files, readLines, warn = FALSE))
  # 64-bit integers as their digits: nothing read here is rounded.
  events <- lapply(lines, jsonlite::fromJSON, simplifyVector = FALSE, bigint_as_char = TRUE)
  expect_gt(length(with_attrs), 0)
  for (case in with_attrs) {
    id <- jsonlite::fromJSON(case$event, simplifyVector = FALSE)$entity$id
    mine <- Filter(function(e) identical(e$entity$id, id), events)
    expect_length(mine, 1)
    got <- mine[[1]]$attrs
    expect_setequal(names(got), names(case$attrs))
    for (name in names(case$attrs)) {
      expect_equal(format(got[[name]], digits = 17), format(case$attrs[[name]], digits = 17),
                   label = paste(case$name, name))
    }
  }
})

test_that("legacy_cases.json: converted to schema v1, or refused naming the path", {
  cases <- read_json_file(file.path(root, "legacy_cases.json"))
  expect_gt(length(cases), 10)
  for (case in cases) {
    converted <- NULL
    error <- error_of(converted <- native(wafermon:::wm_convert_legacy(
      as_json(case$legacy), as_json(case$defaults))))
    if (!is.null(case$expect)) {
      expect_null(error, label = case$name)
      expect_true(native(wafermon:::wm_same_json(converted, as_json(case$expect))),
                  label = case$name)
    } else {
      expect_error_like(error, case$error, "invalid_event", case$name)
    }
  }
})
