# The package's API: the process-wide client (wafermon_init and friends), jobs as blocks
# (with_job) and the calls that report on the innermost open job.

.state <- new.env(parent = emptyenv())
# The process that loaded the package; a forked child (parallel::mclapply) differs.
.state$pid <- NA_integer_
# How many jobs with_job has open that this process started (`open_pid`): a forked child
# inherits its parent's count and starts its own.
.state$open <- 0L
.state$open_pid <- NA_integer_

.onLoad <- function(libname, pkgname) {
  .state$pid <- Sys.getpid()
  # At exit the client delivers what it holds (up to 5 s, less when every backend is down).
  # A forked child that ends with mcexit() skips this: with_job flushes there instead.
  reg.finalizer(.state, function(e) wm_close_at_exit(5), onexit = TRUE)
}

wafermon_init <- function(config = NULL) {
  invisible(.check(wm_init(config)))
}

wafermon_flush <- function(timeout = 5) {
  invisible(.check(wm_flush(timeout)))
}

wafermon_shutdown <- function(timeout = 5) {
  invisible(.check(wm_shutdown(timeout)))
}

wafermon_stats <- function() {
  .check(wm_stats())
}

emit <- function(...) {
  args <- list(...)
  # One unnamed string: the event as JSON text.
  event <- if (length(args) == 1L && is.null(names(args)) && is.character(args[[1]])) args[[1]] else args
  invisible(.check(wm_emit(event)))
}

with_job <- function(name, code, kind = "job", key = NULL, attrs = list()) {
  # Without a kind, a job inside another is a "subjob" (the core's rule); see ?with_job.
  if (missing(kind)) kind <- NULL
  if (!is.null(attrs) && !is.list(attrs)) {
    stop(.condition("invalid_event", "invalid event at attrs: must be a named list", "attrs"))
  }
  job <- .check(wm_job_start(name, kind, key, NULL, attrs, NULL, TRUE))
  pid <- Sys.getpid()
  if (!identical(.state$open_pid, pid)) {
    .state$open_pid <- pid
    .state$open <- 0L
  }
  .state$open <- .state$open + 1L
  ended <- FALSE
  passing <- NULL
  end <- function(how, message = NULL) {
    if (ended) return(invisible())
    ended <<- TRUE
    .state$open <- .state$open - 1L
    # An ending that cannot be recorded (a closed client) must not hide what the block did.
    result <- wm_job_end(job, how, message)
    if (.state$open == 0L && !identical(pid, .state$pid)) .flush_in_child()
    if (how == "finish") .check(result)
    invisible()
  }
  on.exit(if (!ended) {
    # return(), break or a restart left the block: a success, unless a condition other than
    # an error or an interrupt was passing on its way out (caught above this block).
    if (is.null(passing)) {
      end("finish")
    } else {
      end("cancel", paste("left by a condition:", class(passing)[1], .message_of(passing)))
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
  invisible(.check(wm_job_progress(NULL, percent, message)))
}

job_metric <- function(name, value) {
  invisible(.check(wm_job_metric(NULL, name, value)))
}

job_log <- function(level, ...) {
  invisible(.check(wm_job_log(NULL, level, paste0(..., collapse = ""))))
}

job_id <- function() {
  .check(wm_job_id(NULL))
}

# ---- handles, for with_job and the conformance runner ----------------------------------

# Start a job; its handle. `parent`: NULL the innermost open job, FALSE none, or a handle.
.job_start <- function(name, kind = NULL, key = NULL, id = NULL, attrs = list(),
                       parent = FALSE, enter = FALSE) {
  .check(wm_job_start(name, kind, key, id, attrs, parent, enter))
}

.job_end <- function(job, how, message = NULL) {
  .check(wm_job_end(job, how, message))
}

# A condition's message as valid UTF-8 (bytes that are not become "?").
.message_of <- function(condition) {
  message <- enc2utf8(conditionMessage(condition))
  if (!validUTF8(message)) message <- iconv(message, "UTF-8", "UTF-8", sub = "?")
  message
}

# A forked child (mclapply) ends with mcexit(), which runs no exit hook: when the last job
# it started itself ends, it delivers what it holds.
.flush_in_child <- function() {
  try(wm_flush(30), silent = TRUE)
  invisible()
}
