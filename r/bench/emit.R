# The R package's hot calls beside what an R shop writes today, in one run (the `bench`
# package): job_metric on an open job, a whole with_job block, and one line through the
# `logger` package to a file. Nothing here asserts a timing.
#
#   r/build-tarball.sh && R CMD INSTALL wafermon_0.1.0.tar.gz   # once
#   Rscript r/bench/emit.R
suppressPackageStartupMessages({
  library(wafermon)
  library(bench)
  library(logger)
})

dir <- tempfile("wafermon-bench-")
wafermon_init(list(
  app = list(name = "r-bench"),
  direct_backends = list(list(type = "filesystem", path = file.path(dir, "data"))),
  spool = list(path = file.path(dir, "spool"))
))
log_file <- file.path(dir, "logger.log")
log_appender(appender_file(log_file))
log_threshold(INFO)
message_40 <- "wafer 07 left the coater, thickness okay"

results <- with_job("bench", {
  bench::mark(
    job_metric = job_metric("thickness_nm", 101.2),
    with_job = with_job("wafer", kind = "wafer", NULL),
    logger_line = log_info(message_40),
    check = FALSE, min_iterations = 5000, max_iterations = 50000, time_unit = "us",
    filter_gc = TRUE
  )
})
wafermon_flush(60)

table <- data.frame(
  operation = as.character(results$expression),
  median_us = round(as.numeric(results$median), 2),
  min_us = round(as.numeric(results$min), 2),
  mem_alloc_bytes = as.numeric(results$mem_alloc),
  iterations = results$n_itr
)
print(table, row.names = FALSE)
logger_median <- table$median_us[table$operation == "logger_line"]
for (op in c("job_metric", "with_job")) {
  median <- table$median_us[table$operation == op]
  cat(sprintf("%s: %.2f us, %.1fx faster than one logger line (%.2f us)\n", op, median,
              logger_median / median, logger_median))
}
stats <- wafermon_shutdown(60)
cat(sprintf("wafermon: %d events emitted, %d written, %d dropped\n", as.integer(stats$emitted),
            as.integer(stats$backends[[1]]$sent), as.integer(stats$dropped)))
