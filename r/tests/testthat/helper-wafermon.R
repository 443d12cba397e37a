# Shared by the test files: temporary folders, a client writing JSONL there, reading the
# files back, the shared conformance vectors and the host binaries.

# The repository's core/conformance (WAFERMON_CONFORMANCE_DIR, or found from a checkout);
# NULL in a built package checked on its own.
conformance_dir <- function() {
  given <- Sys.getenv("WAFERMON_CONFORMANCE_DIR")
  if (nzchar(given)) return(given)
  here <- normalizePath(".", mustWork = FALSE)
  for (up in c("../../../core/conformance", "../../../../core/conformance")) {
    path <- file.path(here, up)
    if (dir.exists(path)) return(normalizePath(path))
  }
  NULL
}

read_json_file <- function(path) {
  jsonlite::fromJSON(path, simplifyVector = FALSE)
}

# A JSON text of an R value read by read_json_file (scalars stay scalars, {} stays {}).
as_json <- function(value) {
  as.character(jsonlite::toJSON(value, auto_unbox = TRUE, null = "null", digits = NA))
}

# A configuration that writes JSONL files under `dir`, plus `extra` (a list).
config_in <- function(dir, extra = list()) {
  base <- list(
    app = list(name = "r-test", site_id = "fab-r"),
    direct_backends = list(list(type = "filesystem", path = file.path(dir, "data"))),
    spool = list(path = file.path(dir, "spool")),
    batch = list(flush_interval = 0.05)
  )
  utils::modifyList(base, extra)
}

# Every event written as JSONL under `dir`, in file order.
read_events <- function(dir) {
  files <- sort(list.files(dir, pattern = "\\.jsonl$", recursive = TRUE, full.names = TRUE))
  lines <- unlist(lapply(files, readLines, warn = FALSE))
  lapply(lines[nzchar(lines)], jsonlite::fromJSON, simplifyVector = FALSE)
}

# A fresh client writing under a new temporary folder; returns the folder.
fresh_client <- function(extra = list()) {
  dir <- tempfile("wafermon-test-")
  dir.create(dir)
  wafermon_init(config_in(dir, extra))
  dir
}

# Events of the process-wide client, after delivering them.
written <- function(dir) {
  wafermon_flush(30)
  read_events(file.path(dir, "data"))
}

host_binary <- function(which) {
  path <- Sys.getenv(paste0("WAFERMON_", toupper(which), "_BIN"))
  if (nzchar(path) && file.exists(path)) path else NULL
}

# Start a host binary; it prints "listening on ADDR" first. A list with url and pid.
start_host <- function(dir, command) {
  out <- file.path(dir, "host.stdout")
  err <- file.path(dir, "host.stderr")
  pid <- system(sprintf("%s > %s 2> %s & echo $!", paste(shQuote(command), collapse = " "),
                        shQuote(out), shQuote(err)), intern = TRUE)
  deadline <- Sys.time() + 30
  repeat {
    first <- if (file.exists(out)) readLines(out, n = 1L, warn = FALSE) else character()
    if (length(first) && grepl("listening on ", first)) break
    if (Sys.time() > deadline) {
      stop(command[1], " did not start: ", paste(readLines(err, warn = FALSE), collapse = "\n"))
    }
    Sys.sleep(0.05)
  }
  list(url = paste0("http://", sub(".*listening on (\\S+).*", "\\1", first)), pid = as.integer(pid))
}

stop_host <- function(host) {
  tools::pskill(host$pid, tools::SIGTERM)
  invisible()
}

get_json <- function(url) {
  connection <- url(url)
  on.exit(close(connection))
  jsonlite::fromJSON(paste(readLines(connection, warn = FALSE), collapse = "\n"),
                     simplifyVector = FALSE)
}

# Poll `ready` until it returns something other than NULL, or fail after `seconds`.
eventually <- function(seconds, what, ready) {
  deadline <- Sys.time() + seconds
  repeat {
    value <- ready()
    if (!is.null(value)) return(value)
    if (Sys.time() > deadline) stop("not within ", seconds, " s: ", what)
    Sys.sleep(0.1)
  }
}
