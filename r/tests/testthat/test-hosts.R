# A round trip through the real host binaries: R -> sidecar -> gateway (its job view) and
# files. ./test.sh points WAFERMON_SIDECAR_BIN and WAFERMON_GATEWAY_BIN at the builds.

skip_if_not_installed("jsonlite")
sidecar_bin <- host_binary("sidecar")
gateway_bin <- host_binary("gateway")
skip_if(is.null(sidecar_bin) || is.null(gateway_bin),
        "no wafermon-sidecar and wafermon-gateway binaries (WAFERMON_SIDECAR_BIN, WAFERMON_GATEWAY_BIN)")

test_that("jobs reach the gateway's job view and the sidecar's files, each event once", {
  dir <- tempfile("wafermon-hosts-")
  for (sub in c("gateway", "sidecar", "app")) dir.create(file.path(dir, sub), recursive = TRUE)
  gateway <- start_host(file.path(dir, "gateway"), c(gateway_bin, "--listen", "127.0.0.1:0",
    "--database-url", paste0("sqlite://", file.path(dir, "gateway", "gw.sqlite3"))))
  on.exit(stop_host(gateway), add = TRUE)
  sidecar_config <- list(
    ingest = list(flush_interval = 0.05),
    backends = list(
      list(type = "filesystem", name = "files", path = file.path(dir, "out")),
      list(type = "managed_api", name = "gateway", url = gateway$url, timeout = 5, retries = 1)
    ),
    spool = list(path = file.path(dir, "sidecar", "spool"), fsync = "batch"),
    app = list(name = "wafermon-sidecar", version = "0.1.0", site_id = "fab-default",
               instance_id = "sc-1")
  )
  writeLines(as_json(sidecar_config), file.path(dir, "sidecar", "config.json"))
  sidecar <- start_host(file.path(dir, "sidecar"), c(sidecar_bin, "--config",
    file.path(dir, "sidecar", "config.json"), "--listen", "127.0.0.1:0"))
  on.exit(stop_host(sidecar), add = TRUE)

  site <- sprintf("r-%d-%d", Sys.getpid(), as.integer(Sys.time()))
  wafermon_init(config_in(file.path(dir, "app"), list(
    mode = "sidecar", sidecar = list(url = sidecar$url), direct_backends = list(),
    app = list(site_id = site, name = "r-spc"))))
  lots <- character()
  for (n in 1:3) {
    with_job("refit-lot", key = paste0("LOT", n), {
      lots <- c(lots, job_id())
      job_progress(50)
      try(with_job("tool", key = paste0("T", n), if (n == 3) stop("model did not converge")),
          silent = TRUE)
    })
  }
  wafermon_flush(30)
  wafermon_shutdown(30)

  jobs <- eventually(60, "the gateway has the lots", function() {
    jobs <- get_json(paste0(gateway$url, "/v1/jobs?site=", site, "&kind=job"))$jobs
    done <- length(jobs) == 3 &&
      !any(vapply(jobs, function(j) j$status == "running", logical(1)))
    if (done) jobs else NULL
  })
  status <- setNames(vapply(jobs, function(j) j$status, ""), vapply(jobs, function(j) j$id, ""))
  expect_equal(unname(status[lots]), rep("succeeded", 3))
  detail <- get_json(paste0(gateway$url, "/v1/jobs/", lots[3]))
  expect_equal(vapply(detail$subtree, function(j) j$status, ""), "failed")
  expect_equal(detail$job$name, "refit-lot")

  mine <- eventually(60, "the files have the events", function() {
    mine <- Filter(function(e) identical(e$site, site), read_events(file.path(dir, "out")))
    if (length(mine) >= 15) mine else NULL
  })
  expect_length(mine, 15)
  expect_equal(length(unique(vapply(mine, function(e) e$id, ""))), 15)
})
