# A nightly SPC model refit: one job for the refit, one subjob per tool, fitted in parallel
# with parallel::mclapply (forked workers). With no configuration, events go to JSONL files
# under ./wafermon-data; set WAFERMON_CONFIG (or call wafermon_init) to send them elsewhere,
# for example to a local sidecar.
#
#   Rscript examples/r/spc_refit.R
library(wafermon)

tools <- sprintf("ETCH-%02d", 1:6)

refit_tool <- function(tool) {
  with_job(tool, kind = "tool", key = tool, {
    set.seed(nchar(tool) + as.integer(substr(tool, 6, 7)))
    thickness <- rnorm(200, mean = 101, sd = 1.5)
    job_progress(50, "data loaded")
    fit <- lm(thickness ~ seq_along(thickness))
    job_metric("r_squared", summary(fit)$r.squared)
    job_metric("sigma_nm", summary(fit)$sigma)
    if (summary(fit)$sigma > 2) job_log("warning", tool, ": wide process spread")
    summary(fit)$sigma
  })
}

sigmas <- with_job("spc-refit", kind = "refit", attrs = list(tools = length(tools)), {
  result <- parallel::mclapply(tools, refit_tool, mc.cores = 2, mc.preschedule = FALSE)
  job_log("info", "refitted ", length(result), " tools")
  unlist(result)
})

print(round(setNames(sigmas, tools), 3))
wafermon_flush()
stats <- wafermon_stats()
cat(sprintf("emitted in this process: %d; every worker delivered its own before exiting\n",
            as.integer(stats$emitted)))
wafermon_shutdown()
