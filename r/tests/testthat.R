# R CMD check runs this; ./test.sh runs r/run-tests.R, which counts the results.
library(testthat)
library(wafermon)

test_check("wafermon")
