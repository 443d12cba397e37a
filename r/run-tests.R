# The suite as ./test.sh runs it, against the installed package: every file of
# tests/testthat, then one line a reader can trust. A skipped test counts as failed here
# (R CMD check, which runs tests/testthat.R, skips what needs the repository).
#   Rscript r/run-tests.R [tests/testthat folder]
suppressPackageStartupMessages({
  library(testthat)
  library(wafermon)
})
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "tests/testthat"
results <- testthat::test_dir(dir, reporter = "summary", stop_on_failure = FALSE,
                              stop_on_warning = FALSE, load_package = "installed",
                              package = "wafermon")
frame <- as.data.frame(results)
bad <- frame$failed > 0 | frame$error | frame$skipped
for (i in which(bad)) {
  cat(sprintf("FAILED: %s: %s%s\n", frame$file[i], frame$test[i],
              if (frame$skipped[i]) " (skipped)" else ""))
}
cat(sprintf("r tests: %d passed, %d failed\n", sum(!bad), sum(bad)))
quit(status = if (any(bad)) 1 else 0)
