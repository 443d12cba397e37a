# The one table from the core's error kinds to R condition classes, and the checks that keep
# bad arguments from reaching the native side.

# Each core kind (core/conformance/error_kinds.json) and "panic" (a bug caught in the native
# library) with its condition class. Every class inherits "wafermon_error" and "error".
.error_classes <- c(
  invalid_argument = "wafermon_argument_error",
  invalid_config = "wafermon_config_error",
  invalid_event = "wafermon_event_error",
  closed = "wafermon_closed_error",
  timeout = "wafermon_timeout_error",
  io = "wafermon_io_error",
  backend = "wafermon_backend_error",
  panic = "wafermon_panic_error"
)

# A condition of `kind` (a core error kind); `path` names the field at fault, if any.
.condition <- function(kind, message, path = NULL, call = NULL) {
  class <- .error_classes[[kind]]
  if (is.null(class)) class <- "wafermon_panic_error"
  structure(
    class = c(class, "wafermon_error", "error", "condition"),
    list(message = message, call = call, kind = kind,
         path = if (is.null(path) || !nzchar(path)) NULL else path)
  )
}

.fail <- function(kind, message, path = NULL, call = sys.call(-1)) {
  stop(.condition(kind, message, path, call))
}

# The value of a native call, or its error record signalled as a condition.
.check <- function(x, call = sys.call(-1)) {
  if (inherits(x, "wafermon_native_error")) {
    stop(.condition(x$kind, x$message, x$path, call))
  }
  x
}

# A single string, as valid UTF-8 (the native side reads bytes as UTF-8 without checking).
.text <- function(x, what, null_ok = FALSE) {
  if (is.null(x)) {
    if (null_ok) return(NULL)
    .fail("invalid_argument", paste(what, "must be a single string, not NULL"), what)
  }
  if (is.factor(x)) x <- as.character(x)
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    .fail("invalid_argument", paste(what, "must be a single string (not NA)"), what)
  }
  .utf8(x, what)
}

.utf8 <- function(x, what) {
  x <- enc2utf8(x)
  bad <- !is.na(x) & !validUTF8(x)
  if (any(bad)) {
    .fail("invalid_argument",
          paste(what, "is not valid UTF-8 text (convert it with iconv() first)"), what)
  }
  x
}

# Every string of a list tree (values and names) as valid UTF-8; `what` names the tree.
.utf8_tree <- function(x, what) {
  if (is.factor(x)) x <- as.character(x)
  if (!is.null(names(x))) names(x) <- .utf8(names(x), paste(what, "names"))
  if (is.character(x)) return(.utf8(x, what))
  if (is.list(x)) {
    for (i in seq_along(x)) {
      label <- if (!is.null(names(x)) && nzchar(names(x)[i])) names(x)[i] else paste0("[", i, "]")
      value <- .utf8_tree(x[[i]], paste0(what, ".", label))
      if (!is.null(value)) x[[i]] <- value
    }
  }
  x
}

# A single number (not NA).
.number <- function(x, what) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x)) {
    .fail("invalid_argument", paste(what, "must be a single number (not NA)"), what)
  }
  as.double(x)
}
