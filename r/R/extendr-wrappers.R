# One .Call per native entry point of src/rust/src/lib.rs (extendr_module!), in the form
# rextendr writes these wrappers. Each returns its value or an error record that .check()
# (R/errors.R) signals; none is exported.

# nolint start

wm_init <- function(config) .Call(wrap__wm_init, config)

wm_check_config <- function(config_json) .Call(wrap__wm_check_config, config_json)

wm_flush <- function(seconds) .Call(wrap__wm_flush, seconds)

wm_shutdown <- function(seconds) .Call(wrap__wm_shutdown, seconds)

wm_close_at_exit <- function(seconds) .Call(wrap__wm_close_at_exit, seconds)

wm_stats <- function() .Call(wrap__wm_stats)

wm_emit <- function(event) .Call(wrap__wm_emit, event)

wm_job_start <- function(name, kind, key, id, attrs, parent, enter) .Call(wrap__wm_job_start, name, kind, key, id, attrs, parent, enter)

wm_job_end <- function(job, how, message) .Call(wrap__wm_job_end, job, how, message)

wm_job_id <- function(job) .Call(wrap__wm_job_id, job)

wm_job_progress <- function(job, percent, message) .Call(wrap__wm_job_progress, job, percent, message)

wm_job_metric <- function(job, name, value) .Call(wrap__wm_job_metric, job, name, value)

wm_job_log <- function(job, level, message) .Call(wrap__wm_job_log, job, level, message)

wm_error_kinds <- function() .Call(wrap__wm_error_kinds)

wm_debug_panic <- function() .Call(wrap__wm_debug_panic)

wm_convert_legacy <- function(legacy_json, defaults_json) .Call(wrap__wm_convert_legacy, legacy_json, defaults_json)

wm_conformance_config <- function(dir, scenario_config) .Call(wrap__wm_conformance_config, dir, scenario_config)

wm_conformance_check_error <- function(kind, message, expected_json) .Call(wrap__wm_conformance_check_error, kind, message, expected_json)

wm_conformance_check_events <- function(dir, expect_json, aliases, ids) .Call(wrap__wm_conformance_check_events, dir, expect_json, aliases, ids)

wm_same_json <- function(a, b) .Call(wrap__wm_same_json, a, b)

# nolint end
