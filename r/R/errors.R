# The one table from the core's error kinds to R condition classes. Arguments are checked
# on the native side (src/rust/src/lib.rs, rtext.rs), which names the argument at fault.

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
  if (is.list(x) && inherits(x, "wafermon_native_error")) {
    stop(.condition(x$kind, x$message, x$path, call))
  }
  x
}
