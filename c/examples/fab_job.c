/*
 * fab_job: a lot job with three wafer subjobs, reported through wafermon.
 *
 *   fab_job [DATA_DIR]
 *
 * Events go to JSONL files under DATA_DIR/data (a fresh temporary folder when DATA_DIR is
 * not given); the spool lives in DATA_DIR/spool. At the end the client's counters are
 * printed as JSON. Exits non-zero if any wafermon call fails, so it doubles as a test.
 */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wafermon.h>

#define WAFERS 3

/* Report a failed call; returns 1 so callers can write `if (failed(...)) goto done;`. */
static int failed(wm_status status, const char *what) {
    if (status == WM_OK) {
        return 0;
    }
    fprintf(stderr, "fab_job: %s failed (status %d): %s\n", what, (int)status, wm_last_error());
    return 1;
}

/* Write `text` as a JSON string body (without quotes) into out; returns 0 if it fits. */
static int json_escape(const char *text, char *out, size_t size) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char buf[8];
        const char *piece = buf;
        if (*p == '"' || *p == '\\') {
            buf[0] = '\\';
            buf[1] = (char)*p;
            buf[2] = '\0';
        } else if (*p < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", *p);
        } else {
            buf[0] = (char)*p;
            buf[1] = '\0';
        }
        size_t len = strlen(piece);
        if (n + len + 1 > size) {
            return -1;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

int main(int argc, char **argv) {
    char tmp[] = "/tmp/wafermon-fab-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmp);
    if (dir == NULL) {
        perror("fab_job: mkdtemp");
        return 1;
    }
    char dir_json[2048];
    if (json_escape(dir, dir_json, sizeof dir_json) != 0) {
        fprintf(stderr, "fab_job: data dir path too long\n");
        return 1;
    }
    char config_json[8192];
    snprintf(config_json, sizeof config_json,
             "{\"app\": {\"name\": \"fab-job-example\", \"version\": \"1.0\", \"site_id\": \"fab-demo\"},"
             " \"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/data\"}],"
             " \"spool\": {\"path\": \"%s/spool\"}}",
             dir_json, dir_json);

    int rc = 1;
    wm_config *config = NULL;
    wm_client *client = NULL;
    wm_job *lot = NULL;
    wm_job *wafer = NULL;
    char *stats = NULL;

    if (failed(wm_config_from_json(config_json, &config), "wm_config_from_json")) goto done;
    if (failed(wm_client_new(config, &client), "wm_client_new")) goto done;
    if (failed(wm_config_free(config), "wm_config_free")) goto done;
    config = NULL;

    printf("wafermon %s, events under %s/data\n", wm_version(), dir);

    if (failed(wm_job_start(client, "lot-run",
                            "{\"kind\": \"lot\", \"key\": \"LOT-4711\","
                            " \"attrs\": {\"product\": \"MCU-28nm\", \"wafers\": 3, \"hot_lot\": false}}",
                            &lot),
               "wm_job_start"))
        goto done;
    const char *lot_id = NULL;
    if (failed(wm_job_id(lot, &lot_id), "wm_job_id")) goto done;
    printf("lot job %s started\n", lot_id);

    for (int i = 1; i <= WAFERS; i++) {
        char name[32], options[128], message[64];
        snprintf(name, sizeof name, "wafer-%d", i);
        snprintf(options, sizeof options,
                 "{\"kind\": \"wafer\", \"key\": \"LOT-4711-%02d\", \"attrs\": {\"slot\": %d}}", i, i);
        if (failed(wm_job_start_sub(lot, name, options, &wafer), "wm_job_start_sub")) goto done;
        if (failed(wm_job_progress(wafer, 50.0, "etch done"), "wm_job_progress")) goto done;
        if (failed(wm_job_metric(wafer, "thickness_nm", 100.0 + i * 0.25), "wm_job_metric")) goto done;
        if (failed(wm_job_progress(wafer, 100.0, NULL), "wm_job_progress")) goto done;
        if (failed(wm_job_finish(wafer), "wm_job_finish")) goto done;
        if (failed(wm_job_free(wafer), "wm_job_free")) goto done;
        wafer = NULL;
        snprintf(message, sizeof message, "%d of %d wafers done", i, WAFERS);
        if (failed(wm_job_progress(lot, 100.0 * i / WAFERS, message), "wm_job_progress")) goto done;
    }
    if (failed(wm_job_metric(lot, "yield_pct", 98.5), "wm_job_metric")) goto done;
    if (failed(wm_job_log(lot, "info", "lot complete, moving to metrology"), "wm_job_log")) goto done;
    if (failed(wm_job_finish(lot), "wm_job_finish")) goto done;

    if (failed(wm_flush(client, 5000), "wm_flush")) goto done;
    if (failed(wm_stats_json(client, &stats), "wm_stats_json")) goto done;
    printf("stats: %s\n", stats);
    if (failed(wm_close(client, 5000), "wm_close")) goto done;
    rc = 0;

done:
    /* Cleanup reports problems too, but never hides an earlier failure. */
    if (failed(wm_string_free(stats), "wm_string_free")) rc = 1;
    if (failed(wm_job_free(wafer), "wm_job_free")) rc = 1;
    if (failed(wm_job_free(lot), "wm_job_free")) rc = 1;
    if (failed(wm_client_free(client), "wm_client_free")) rc = 1;
    if (failed(wm_config_free(config), "wm_config_free")) rc = 1;
    printf(rc == 0 ? "fab_job: ok\n" : "fab_job: FAILED\n");
    return rc;
}
