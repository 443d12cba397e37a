# The package's API: the process-wide client (wafermon_init and friends), jobs as blocks
# (with_job) and the calls that report on the innermost open job.

.state <- new.env(parent = emptyenv())
# The process that loaded the package; a forked child (parallel::mclapply) differs.
.state$pid <- NA_integer_
# The jobs with_job has open, innermost last: list(handle, pid).
.state$open <- list()

.onLoad <- function(libname, pkgname) {
  .state$pid <- Sys.getpid()
  # At exit the client delivers what it holds (up to 5 s, less when every backend is down).
  # A forked child that ends with mcexit() skips this: with_job flushes there instead.
  reg.finalizer(.state, function(e) wm_close_at_exit(5), onexit = TRUE)
}

wafermon_init <- function(config = NULL) {
  if (is.list(config)) {
    config <- .utf8_tree(config, "config")
  } else if (!is.null(config)) {
    config <- .text(config, "config")
  }
  invisible(.check(wm_init(config)))
}

wafermon_flush <- function(timeout = 5) {
  invisible(.check(wm_flush(.number(timeout, "timeout"))))
}

wafermon_shutdown <- function(timeout = 5) {
  invisible(.check(wm_shutdown(.number(timeout, "timeout"))))
}

wafermon_stats <- function() {
  .check(wm_stats())
}

emit <- function(...) {
  args <- list(...)
  event <- if (length(args) == 1L && is.null(names(args)) && is.character(args[[1]])) {
    .text(args[[1]], "event")
  } else {
    .utf8_tree(args, "event")
  }
  invisible(.check(wm_emit(event)))
}

with_job <- function(name, code, kind = "job", key = NULL, attrs = list()) {
  # Without a kind, a job inside another is a "subjob" (the core's rule); see ?with_job.
  kind <- if (missing(kind)) NULL else .text(kind, "kind")
  job <- .job_start(name, kind = kind, key = key, attrs = attrs, parent = NULL, enter = TRUE)
  pid <- Sys.getpid()
  .state$open[[length(.state$open) + 1L]] <- list(handle = job, pid = pid)
  ended <- FALSE
  passing <- NULL
  end <- function(how, message = NULL) {
    if (ended) return(invisible())
    ended <<- TRUE
    .forget(job)
    # An ending that cannot be recorded (a closed client) must not hide what the block did.
    result <- wm_job_end(job, how, message)
    .after_job_in_child(pid)
    if (how == "finish") .check(result)
    invisible()
  }
  on.exit({
    if (!ended) {
      # return(), break or a restart left the block: a success, unless a condition other than
      # an error or an interrupt was passing on its way out (caught above this block).
      if (is.null(passing)) {
        end("finish")
      } else {
        end("cancel", paste("left by a condition:", class(passing)[1], .message_of(passing)))
      }
    }
  })
  value <- withCallingHandlers(
    code,
    error = function(e) end("fail", .message_of(e)),
    interrupt = function(e) end("cancel", "interrupted"),
    warning = function(w) try(wm_job_log(job, "warning", .message_of(w)), silent = TRUE),
    condition = function(c) {
      if (!inherits(c, c("warning", "message"))) passing <<- c
    }
  )
  passing <- NULL
  end("finish")
  value
}

job_progress <- function(percent, message = NULL) {
  invisible(.check(wm_job_progress(NULL, .number(percent, "percent"),
                                   .text(message, "message", null_ok = TRUE))))
}

job_metric <- function(name, value) {
  invisible(.check(wm_job_metric(NULL, .text(name, "name"), .number(value, "value"))))
}

job_log <- function(level, ...) {
  message <- paste0(..., collapse = "")
  invisible(.check(wm_job_log(NULL, .text(level, "level"), .text(message, "message"))))
}

job_id <- function() {
  .check(wm_job_id(NULL))
}

# ---- handles, for with_job and the conformance runner ----------------------------------

# Start a job; its handle. `parent`: NULL the innermost open job, FALSE none, or a handle.
.job_start <- function(name, kind = NULL, key = NULL, id = NULL, attrs = list(),
                       parent = FALSE, enter = FALSE) {
  name <- .text(name, "name")
  kind <- .text(kind, "kind", null_ok = TRUE)
  key <- .text(key, "key", null_ok = TRUE)
  id <- .text(id, "id", null_ok = TRUE)
  if (!is.null(attrs) && !is.list(attrs)) {
    .fail("invalid_event", "attrs must be a named list", "attrs")
  }
  attrs <- .utf8_tree(attrs, "attrs")
  .check(wm_job_start(name, kind, key, id, attrs, parent, enter))
}

.job_end <- function(job, how, message = NULL) {
  .check(wm_job_end(job, how, .text(message, "message", null_ok = TRUE)))
}

# A condition's message as valid UTF-8 (bytes that are not become "?").
.message_of <- function(condition) {
  message <- enc2utf8(conditionMessage(condition))
  if (!validUTF8(message)) message <- iconv(message, "UTF-8", "UTF-8", sub = "?")
  message
}

.forget <- function(job) {
  open <- .state$open
  for (i in rev(seq_along(open))) {
    if (identical(open[[i]]$handle, job)) {
      .state$open <- open[-i]
      return(invisible())
    }
  }
}

# A forked child (mclapply) ends with mcexit(), which runs no exit hook: when the last job
# it started itself ends, it delivers what it holds.
.after_job_in_child <- function(pid) {
  if (identical(pid, .state$pid)) return(invisible())
  mine <- vapply(.state$open, function(o) identical(o$pid, pid), logical(1))
  if (!any(mine)) try(wm_flush(30), silent = TRUE)
  invisible()
}
