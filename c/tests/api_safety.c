/*
 * api_safety: every rule of the C ABI, exercised from C.
 *  - NULL pointers and invalid UTF-8 give WM_ERR_INVALID_ARGUMENT naming the argument
 *  - malformed JSON gives WM_ERR_INVALID_CONFIG / WM_ERR_INVALID_EVENT with the core's message
 *  - use after close gives WM_ERR_CLOSED; so does use of an ended job
 *  - double free, use after free and wrong-kind handles give WM_ERR_INVALID_ARGUMENT
 *  - _free accepts NULL; every entry point catches panics; errors are per thread
 */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wafermon.h>

static int passed, failed;
static char tmp_dir[] = "/tmp/wafermon-api-safety-XXXXXX";

static void check(int ok, int line, const char *what, const char *detail) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    fprintf(stderr, "FAIL line %d: %s\n    %s\n", line, what, detail);
}

/* The status of `call` must be `want` and wm_last_error() must contain `needle`. */
static void expect_impl(wm_status got, wm_status want, const char *needle, const char *call,
                        int line) {
    const char *message = wm_last_error();
    char detail[2048];
    snprintf(detail, sizeof detail, "status %d (want %d), last error: \"%s\" (want \"%s\")",
             (int)got, (int)want, message ? message : "(NULL)", needle);
    int ok = got == want && message != NULL && strstr(message, needle) != NULL;
    if (want == WM_OK) {
        ok = ok && message[0] == '\0';
    }
    check(ok, line, call, detail);
}
#define EXPECT(call, want, needle) expect_impl((call), (want), (needle), #call, __LINE__)
#define EXPECT_OK(call) expect_impl((call), WM_OK, "", #call, __LINE__)
#define CHECK(cond) check((cond), __LINE__, #cond, "")

static const char *NOT_LIVE = "is not a live wafermon handle (already freed?)";

static wm_client *new_client(const char *name) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"app\": {\"name\": \"api-safety\"},"
             " \"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/%s/data\"}],"
             " \"spool\": {\"path\": \"%s/%s/spool\"}}",
             tmp_dir, name, tmp_dir, name);
    wm_config *config = NULL;
    wm_client *client = NULL;
    EXPECT_OK(wm_config_from_json(json, &config));
    EXPECT_OK(wm_client_new(config, &client));
    EXPECT_OK(wm_config_free(config));
    return client;
}

static void test_version_and_last_error(void) {
    const char *v = wm_version();
    CHECK(v != NULL && v[0] != '\0');
    CHECK(wm_last_error() != NULL);
    CHECK(strcmp(wm_last_error(), "") == 0);
}

static void test_nulls(void) {
    wm_config *config = (wm_config *)(uintptr_t)0x1; /* must be cleared on error */
    EXPECT(wm_config_from_json(NULL, &config), WM_ERR_INVALID_ARGUMENT, "json is NULL");
    CHECK(config == NULL);
    EXPECT(wm_config_from_json("{}", NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT(wm_config_from_json(NULL, &config), WM_ERR_INVALID_ARGUMENT, "wm_config_from_json");
    EXPECT(wm_config_from_file(NULL, &config), WM_ERR_INVALID_ARGUMENT, "path is NULL");
    EXPECT(wm_config_from_file("x.json", NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT(wm_config_from_env(NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");

    wm_client *client = NULL;
    EXPECT(wm_client_new(NULL, &client), WM_ERR_INVALID_ARGUMENT, "config is NULL");
    CHECK(client == NULL);

    client = new_client("nulls");
    EXPECT(wm_client_new(NULL, NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT(wm_emit_json(NULL, "{}"), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT(wm_emit_json(client, NULL), WM_ERR_INVALID_ARGUMENT, "event_json is NULL");
    EXPECT(wm_flush(NULL, 0), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT(wm_close(NULL, 0), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    char *stats = NULL;
    EXPECT(wm_stats_json(NULL, &stats), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT(wm_stats_json(client, NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");

    wm_job *job = NULL;
    EXPECT(wm_job_start(NULL, "etch", NULL, &job), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT(wm_job_start(client, NULL, NULL, &job), WM_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT(wm_job_start(client, "etch", NULL, NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT_OK(wm_job_start(client, "etch", NULL, &job)); /* options_json may be NULL */
    wm_job *sub = NULL;
    EXPECT(wm_job_start_sub(NULL, "rinse", NULL, &sub), WM_ERR_INVALID_ARGUMENT, "parent is NULL");
    EXPECT(wm_job_start_sub(job, NULL, NULL, &sub), WM_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT(wm_job_start_sub(job, "rinse", NULL, NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    const char *id = NULL;
    EXPECT(wm_job_id(NULL, &id), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_id(job, NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT(wm_job_progress(NULL, 1.0, NULL), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT_OK(wm_job_progress(job, 1.0, NULL)); /* message may be NULL */
    EXPECT(wm_job_metric(NULL, "m", 1.0), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_metric(job, NULL, 1.0), WM_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT(wm_job_log(NULL, "info", "m"), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_log(job, NULL, "m"), WM_ERR_INVALID_ARGUMENT, "level is NULL");
    EXPECT(wm_job_log(job, "info", NULL), WM_ERR_INVALID_ARGUMENT, "message is NULL");
    EXPECT(wm_job_finish(NULL), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_fail(NULL, "m"), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_fail(job, NULL), WM_ERR_INVALID_ARGUMENT, "message is NULL");
    EXPECT(wm_job_cancel(NULL, "m"), WM_ERR_INVALID_ARGUMENT, "job is NULL");
    EXPECT(wm_job_cancel(job, NULL), WM_ERR_INVALID_ARGUMENT, "message is NULL");
    /* A NULL argument changed nothing: the job is still running. */
    EXPECT_OK(wm_job_finish(job));
    EXPECT_OK(wm_job_free(job));
    EXPECT_OK(wm_client_free(client));
}

static void test_free_accepts_null(void) {
    EXPECT(wm_emit_json(NULL, "{}"), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT_OK(wm_config_free(NULL)); /* also resets the last error to "" */
    EXPECT_OK(wm_client_free(NULL));
    EXPECT_OK(wm_job_free(NULL));
    EXPECT_OK(wm_string_free(NULL));
}

static void test_invalid_utf8(void) {
    wm_config *config = NULL;
    EXPECT(wm_config_from_json("{\"app\": {\"name\": \"\xff\"}}", &config), WM_ERR_INVALID_ARGUMENT,
           "json is not valid UTF-8");
    EXPECT(wm_config_from_file("/tmp/\xc3(.json", &config), WM_ERR_INVALID_ARGUMENT,
           "path is not valid UTF-8");
    wm_client *client = new_client("utf8");
    EXPECT(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"\xe2\x82\"}}"),
           WM_ERR_INVALID_ARGUMENT, "event_json is not valid UTF-8");
    wm_job *job = NULL;
    EXPECT(wm_job_start(client, "etch\xff", NULL, &job), WM_ERR_INVALID_ARGUMENT,
           "name is not valid UTF-8");
    EXPECT(wm_job_start(client, "etch", "{\"key\": \"\xff\"}", &job), WM_ERR_INVALID_ARGUMENT,
           "options_json is not valid UTF-8");
    EXPECT_OK(wm_job_start(client, "etch", NULL, &job));
    wm_job *sub = NULL;
    EXPECT(wm_job_start_sub(job, "\xc0", NULL, &sub), WM_ERR_INVALID_ARGUMENT, "name is not valid UTF-8");
    EXPECT(wm_job_progress(job, 5.0, "\xff"), WM_ERR_INVALID_ARGUMENT, "message is not valid UTF-8");
    EXPECT(wm_job_metric(job, "\xff", 1.0), WM_ERR_INVALID_ARGUMENT, "name is not valid UTF-8");
    EXPECT(wm_job_log(job, "\xff", "m"), WM_ERR_INVALID_ARGUMENT, "level is not valid UTF-8");
    EXPECT(wm_job_log(job, "info", "bad \xff"), WM_ERR_INVALID_ARGUMENT, "message is not valid UTF-8");
    EXPECT(wm_job_fail(job, "\xff"), WM_ERR_INVALID_ARGUMENT, "message is not valid UTF-8");
    EXPECT(wm_job_cancel(job, "\xff"), WM_ERR_INVALID_ARGUMENT, "message is not valid UTF-8");
    EXPECT_OK(wm_job_finish(job));
    EXPECT_OK(wm_job_free(job));
    EXPECT_OK(wm_client_free(client));
}

static void test_malformed_json(void) {
    wm_config *config = NULL;
    EXPECT(wm_config_from_json("{", &config), WM_ERR_INVALID_CONFIG, "invalid config: malformed JSON");
    CHECK(config == NULL);
    EXPECT(wm_config_from_json("{\"modes\": 1}", &config), WM_ERR_INVALID_CONFIG, "at modes:");
    EXPECT(wm_config_from_json("{\"batch\": {\"max_events\": 0}}", &config), WM_ERR_INVALID_CONFIG,
           "invalid config at batch.max_events:");
    EXPECT(wm_config_from_json("[]", &config), WM_ERR_INVALID_CONFIG, "must be a JSON object");
    EXPECT(wm_config_from_file("/nonexistent/wafermon.json", &config), WM_ERR_INVALID_CONFIG,
           "cannot read config file /nonexistent/wafermon.json");

    wm_client *client = new_client("malformed");
    EXPECT(wm_emit_json(client, "{\"kind\": "), WM_ERR_INVALID_EVENT, "invalid event: malformed JSON");
    EXPECT(wm_emit_json(client, "[1, 2]"), WM_ERR_INVALID_EVENT, "an event must be a JSON object");
    EXPECT(wm_emit_json(client, "{\"kind\": \"progress\", \"progress\": 120,"
                                " \"entity\": {\"kind\": \"job\", \"id\": \"x\"}}"),
           WM_ERR_INVALID_EVENT, "invalid event at progress:");
    EXPECT(wm_emit_json(client, "{\"kind\": \"started\", \"entity\": {\"kind\": \"job\", \"id\": \"x\"},"
                                " \"colour\": \"blue\"}"),
           WM_ERR_INVALID_EVENT, "at colour:");
    EXPECT_OK(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}"));

    wm_job *job = NULL;
    EXPECT(wm_job_start(client, "etch", "{\"key\": ", &job), WM_ERR_INVALID_ARGUMENT,
           "options_json is not valid JSON");
    EXPECT(wm_job_start(client, "etch", "{\"colour\": \"blue\"}", &job), WM_ERR_INVALID_ARGUMENT,
           "options_json has an unknown key 'colour'");
    EXPECT(wm_job_start(client, "etch", "{\"key\": 42}", &job), WM_ERR_INVALID_ARGUMENT,
           "options_json.key must be a string");
    EXPECT(wm_job_start(client, "etch", "[]", &job), WM_ERR_INVALID_ARGUMENT,
           "options_json must be a JSON object");
    EXPECT(wm_job_start(client, "etch", "{\"attrs\": {\"o\": {}}}", &job), WM_ERR_INVALID_EVENT,
           "invalid event at attrs.o:");
    EXPECT(wm_job_start(client, "etch", "{\"kind\": \"\"}", &job), WM_ERR_INVALID_EVENT,
           "invalid event at entity.kind:");
    CHECK(job == NULL);
    EXPECT_OK(wm_job_start(client, "etch", "{\"kind\": \"lot\", \"id\": \"LOT-1\", \"key\": \"L1\","
                                           " \"attrs\": {\"tool\": \"E1\", \"n\": 3, \"f\": 1.5, \"b\": true}}",
                           &job));
    const char *id = NULL;
    EXPECT_OK(wm_job_id(job, &id));
    CHECK(id != NULL && strcmp(id, "LOT-1") == 0);
    EXPECT(wm_job_progress(job, 150.0, NULL), WM_ERR_INVALID_EVENT, "invalid event at progress:");
    EXPECT(wm_job_progress(job, -1.0, "m"), WM_ERR_INVALID_EVENT, "invalid event at progress:");
    EXPECT(wm_job_metric(job, "t", NAN), WM_ERR_INVALID_EVENT, "at metrics.t:");
    EXPECT(wm_job_metric(job, "", 1.0), WM_ERR_INVALID_EVENT, "invalid event at metrics:");
    EXPECT(wm_job_log(job, "loud", "m"), WM_ERR_INVALID_EVENT, "invalid event at level:");
    EXPECT_OK(wm_job_log(job, "warning", "pump slow"));
    EXPECT_OK(wm_job_finish(job));
    EXPECT_OK(wm_job_free(job));
    EXPECT_OK(wm_client_free(client));
}

static void test_config_sources(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmp_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL) return;
    fprintf(f, "{\"app\": {\"name\": \"from-file\"}, \"batch\": {\"max_events\": 10}}");
    fclose(f);
    wm_config *config = NULL;
    EXPECT_OK(wm_config_from_file(path, &config));
    EXPECT_OK(wm_config_free(config));

    CHECK(setenv("WAFERMON_BATCH_MAX_EVENTS", "lots", 1) == 0);
    EXPECT(wm_config_from_env(&config), WM_ERR_INVALID_CONFIG, "WAFERMON_BATCH_MAX_EVENTS");
    CHECK(config == NULL);
    CHECK(setenv("WAFERMON_BATCH_MAX_EVENTS", "50", 1) == 0);
    CHECK(setenv("WAFERMON_CONFIG", path, 1) == 0);
    EXPECT_OK(wm_config_from_env(&config));
    EXPECT_OK(wm_config_free(config));
    unsetenv("WAFERMON_BATCH_MAX_EVENTS");
    unsetenv("WAFERMON_CONFIG");
}

/* A dead backend: close says how many events wait in the spool instead of pretending. */
static void test_close_reports_undelivered(void) {
    char blocker[512], json[2048];
    snprintf(blocker, sizeof blocker, "%s/blocked", tmp_dir);
    FILE *f = fopen(blocker, "w");
    CHECK(f != NULL);
    if (f == NULL) return;
    fputs("not a folder", f);
    fclose(f);
    snprintf(json, sizeof json,
             "{\"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/data\"}],"
             " \"spool\": {\"path\": \"%s/blocked-spool\"},"
             " \"retry\": {\"initial_backoff\": 0.01, \"max_backoff\": 0.05}}",
             blocker, tmp_dir);
    wm_config *config = NULL;
    wm_client *client = NULL;
    EXPECT_OK(wm_config_from_json(json, &config));
    EXPECT_OK(wm_client_new(config, &client));
    EXPECT_OK(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}"));
    EXPECT(wm_flush(client, 200), WM_ERR_TIMEOUT, "not delivered in time");
    EXPECT(wm_close(client, 200), WM_ERR_TIMEOUT, "1 events not delivered");
    EXPECT_OK(wm_client_free(client));
    EXPECT_OK(wm_config_free(config));
}

static void test_use_after_close(void) {
    wm_client *client = new_client("closed");
    wm_job *job = NULL;
    EXPECT_OK(wm_job_start(client, "etch", NULL, &job));
    EXPECT_OK(wm_close(client, 5000));
    EXPECT_OK(wm_close(client, 5000)); /* idempotent */
    EXPECT(wm_flush(client, 1000), WM_ERR_CLOSED, "closed");
    EXPECT(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}"),
           WM_ERR_CLOSED, "closed");
    wm_job *other = NULL;
    EXPECT(wm_job_start(client, "late", NULL, &other), WM_ERR_CLOSED, "closed");
    CHECK(other == NULL);
    EXPECT(wm_job_progress(job, 10.0, NULL), WM_ERR_CLOSED, "closed");
    EXPECT(wm_job_start_sub(job, "rinse", NULL, &other), WM_ERR_CLOSED, "closed");
    char *stats = NULL;
    EXPECT_OK(wm_stats_json(client, &stats));
    CHECK(stats != NULL && strstr(stats, "\"emitted\":1") != NULL);
    EXPECT_OK(wm_string_free(stats));
    EXPECT_OK(wm_job_free(job)); /* its `canceled` cannot be sent any more; no error */
    EXPECT_OK(wm_client_free(client));
}

static void test_ended_job(void) {
    wm_client *client = new_client("ended");
    const char *words[] = {"has already finished", "has already failed", "has already been canceled"};
    for (int i = 0; i < 3; i++) {
        wm_job *job = NULL;
        EXPECT_OK(wm_job_start(client, "etch", NULL, &job));
        if (i == 0) EXPECT_OK(wm_job_finish(job));
        if (i == 1) EXPECT_OK(wm_job_fail(job, "chamber fault"));
        if (i == 2) EXPECT_OK(wm_job_cancel(job, "operator abort"));
        EXPECT(wm_job_progress(job, 50.0, NULL), WM_ERR_CLOSED, words[i]);
        EXPECT(wm_job_metric(job, "m", 1.0), WM_ERR_CLOSED, "job 'etch'");
        EXPECT(wm_job_log(job, "info", "m"), WM_ERR_CLOSED, words[i]);
        EXPECT(wm_job_finish(job), WM_ERR_CLOSED, words[i]);
        EXPECT(wm_job_fail(job, "again"), WM_ERR_CLOSED, words[i]);
        EXPECT(wm_job_cancel(job, "again"), WM_ERR_CLOSED, words[i]);
        wm_job *sub = NULL;
        EXPECT(wm_job_start_sub(job, "rinse", NULL, &sub), WM_ERR_CLOSED, words[i]);
        const char *id = NULL;
        EXPECT_OK(wm_job_id(job, &id)); /* the handle itself stays valid */
        CHECK(id != NULL && strlen(id) == 36);
        EXPECT_OK(wm_job_free(job));
    }
    EXPECT_OK(wm_client_free(client));
}

static void test_double_free_and_use_after_free(void) {
    wm_config *config = NULL;
    EXPECT_OK(wm_config_from_json("{}", &config));
    EXPECT_OK(wm_config_free(config));
    EXPECT(wm_config_free(config), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    wm_client *client = NULL;
    EXPECT(wm_client_new(config, &client), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    CHECK(client == NULL);

    client = new_client("freed");
    wm_job *job = NULL;
    wm_job *sub = NULL;
    EXPECT_OK(wm_job_start(client, "etch", NULL, &job));
    EXPECT_OK(wm_job_start_sub(job, "rinse", NULL, &sub));
    EXPECT_OK(wm_job_free(sub)); /* records canceled */
    EXPECT(wm_job_free(sub), WM_ERR_INVALID_ARGUMENT, "job is not a live wafermon handle");
    EXPECT(wm_job_finish(sub), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    const char *id = NULL;
    EXPECT(wm_job_id(sub, &id), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_job_start_sub(sub, "x", NULL, &job), WM_ERR_INVALID_ARGUMENT, "parent is not a live");
    CHECK(job == NULL); /* out is cleared on error */
    EXPECT_OK(wm_job_start(client, "etch-2", NULL, &job));

    /* A handle of one kind where another is expected. */
    EXPECT(wm_job_finish((wm_job *)client), WM_ERR_INVALID_ARGUMENT,
           "job is a wafermon client handle, not a job handle");
    EXPECT(wm_emit_json((wm_client *)job, "{}"), WM_ERR_INVALID_ARGUMENT,
           "client is a wafermon job handle, not a client handle");
    EXPECT(wm_config_free((wm_config *)job), WM_ERR_INVALID_ARGUMENT, "not a config handle");
    /* Garbage is never dereferenced. */
    EXPECT(wm_emit_json((wm_client *)(uintptr_t)0xdeadbeef, "{}"), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_client_free((wm_client *)(uintptr_t)0x10), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);

    char *stats = NULL;
    EXPECT_OK(wm_stats_json(client, &stats));
    EXPECT_OK(wm_string_free(stats));
    EXPECT(wm_string_free(stats), WM_ERR_INVALID_ARGUMENT, "not a live string returned by wafermon");
    char mine[] = "not from wafermon";
    EXPECT(wm_string_free(mine), WM_ERR_INVALID_ARGUMENT, "not a live string");

    EXPECT_OK(wm_client_free(client));
    EXPECT(wm_client_free(client), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_emit_json(client, "{}"), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_flush(client, 0), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_close(client, 0), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT(wm_stats_json(client, &stats), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    wm_job *late = NULL;
    EXPECT(wm_job_start(client, "late", NULL, &late), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    /* A job outlives its freed client as a handle; the client is closed. */
    EXPECT(wm_job_progress(job, 1.0, NULL), WM_ERR_CLOSED, "closed");
    EXPECT_OK(wm_job_free(job));
}

static void test_panics_are_caught(void) {
    printf("(the two \"deliberate panic\" reports on stderr below are expected)\n");
    fflush(stdout);
    EXPECT(wm_debug_panic(), WM_ERR_PANIC, "panic in wm_debug_panic");
    /* The library keeps working after a caught panic. */
    wm_client *client = new_client("panic");
    EXPECT(wm_debug_panic(), WM_ERR_PANIC, "deliberate panic");
    EXPECT_OK(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}"));
    EXPECT_OK(wm_client_free(client));
}

static void *thread_body(void *arg) {
    (void)arg;
    static char result[512];
    if (wm_emit_json(NULL, "{}") != WM_ERR_INVALID_ARGUMENT) {
        snprintf(result, sizeof result, "unexpected status");
    } else {
        snprintf(result, sizeof result, "%s", wm_last_error());
    }
    return result;
}

static void test_last_error_is_per_thread(void) {
    wm_config *config = NULL;
    EXPECT(wm_config_from_json("{", &config), WM_ERR_INVALID_CONFIG, "malformed JSON");
    pthread_t thread;
    void *result = NULL;
    CHECK(pthread_create(&thread, NULL, thread_body, NULL) == 0);
    CHECK(pthread_join(thread, &result) == 0);
    CHECK(result != NULL && strstr((const char *)result, "client is NULL") != NULL);
    /* This thread's message is untouched by the other thread's failure. */
    CHECK(strstr(wm_last_error(), "invalid config: malformed JSON") != NULL);
}

enum { THREADS = 4, PER_THREAD = 500 };

static void *worker_body(void *arg) {
    wm_client *client = arg;
    static const char *event = "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}";
    long bad = 0;
    for (int i = 0; i < PER_THREAD; i++) {
        wm_job *job = NULL;
        bad += wm_emit_json(client, event) != WM_OK;
        bad += wm_job_start(client, "step", NULL, &job) != WM_OK;
        bad += wm_job_progress(job, 50.0, NULL) != WM_OK;
        bad += wm_job_finish(job) != WM_OK;
        bad += wm_job_free(job) != WM_OK;
    }
    return (void *)bad;
}

static void test_threads_share_a_client(void) {
    wm_client *client = new_client("threads");
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&threads[i], NULL, worker_body, client) == 0);
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *result = NULL;
        CHECK(pthread_join(threads[i], &result) == 0);
        bad += (long)result;
    }
    CHECK(bad == 0);
    EXPECT_OK(wm_close(client, 10000));
    char *stats = NULL;
    EXPECT_OK(wm_stats_json(client, &stats));
    char want[64];
    snprintf(want, sizeof want, "\"emitted\":%d,\"queued\":0", THREADS * PER_THREAD * 4);
    check(stats != NULL && strstr(stats, want) != NULL, __LINE__, "every event of every thread counted", stats ? stats : "(NULL)");
    EXPECT_OK(wm_string_free(stats));
    EXPECT_OK(wm_client_free(client));
}

/* True when some file under dir contains text (grep -r). */
static int written_under(const char *dir, const char *text) {
    char command[4096];
    snprintf(command, sizeof command, "grep -rqF '%s' '%s'", text, dir);
    return system(command) == 0;
}

static void test_program_name(void) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/program/data\"}],"
             " \"spool\": {\"path\": \"%s/program/spool\"}}",
             tmp_dir, tmp_dir);
    wm_config *config = NULL;
    wm_client *client = NULL;
    EXPECT_OK(wm_config_from_json(json, &config));
    EXPECT(wm_client_new_for_program(NULL, "x", &client), WM_ERR_INVALID_ARGUMENT, "config is NULL");
    EXPECT(wm_client_new_for_program(config, NULL, &client), WM_ERR_INVALID_ARGUMENT,
           "program_name is NULL");
    EXPECT(wm_client_new_for_program(config, "x", NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    /* No app.name configured: the program's name is reported, not the executable's. */
    EXPECT_OK(wm_client_new_for_program(config, "lot_inspection", &client));
    EXPECT_OK(wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"T1\"}}"));
    EXPECT_OK(wm_close(client, 10000));
    EXPECT_OK(wm_client_free(client));
    EXPECT_OK(wm_config_free(config));
    char data[1024];
    snprintf(data, sizeof data, "%s/program/data", tmp_dir);
    CHECK(written_under(data, "\"name\":\"lot_inspection\""));
}

/* A job prepared, given its kind, key, id and attributes without JSON, then begun. */
static void test_prepared_job(void) {
    wm_client *client = new_client("prepared");
    wm_job *job = NULL;
    EXPECT(wm_job_new(NULL, "lot", &job), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    EXPECT(wm_job_new(client, NULL, &job), WM_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT(wm_job_new(client, "lot", NULL), WM_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT_OK(wm_job_new(client, "lot-dispatch", &job));
    EXPECT(wm_job_set_kind(job, NULL), WM_ERR_INVALID_ARGUMENT, "value is NULL");
    EXPECT(wm_job_attr_int(job, NULL, 1), WM_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT(wm_job_attr_string(job, "recipe", NULL), WM_ERR_INVALID_ARGUMENT, "value is NULL");
    EXPECT_OK(wm_job_set_kind(job, "lot"));
    EXPECT_OK(wm_job_set_key(job, "LOT-7"));
    EXPECT_OK(wm_job_set_id(job, "lot-7-run-1"));
    EXPECT_OK(wm_job_attr_string(job, "recipe", "R7"));
    EXPECT_OK(wm_job_attr_int(job, "slots", 25));
    EXPECT_OK(wm_job_attr_double(job, "temp_c", 21.5));
    EXPECT_OK(wm_job_attr_bool(job, "rework", 1));
    /* Not begun: nothing to report on, no id yet. */
    EXPECT(wm_job_metric(job, "m", 1.0), WM_ERR_INVALID_ARGUMENT, "job 'lot-dispatch' has not started");
    const char *id = NULL;
    EXPECT(wm_job_id(job, &id), WM_ERR_INVALID_ARGUMENT, "has not started");
    EXPECT_OK(wm_job_begin(job));
    EXPECT_OK(wm_job_id(job, &id));
    CHECK(id != NULL && strcmp(id, "lot-7-run-1") == 0);
    EXPECT(wm_job_begin(job), WM_ERR_INVALID_ARGUMENT, "has already started");
    EXPECT(wm_job_set_key(job, "LOT-8"), WM_ERR_INVALID_ARGUMENT, "set before start");

    /* A subjob prepared the same way; an invalid attribute fails the begin, not the job. */
    wm_job *wafer = NULL;
    EXPECT_OK(wm_job_new_sub(job, "wafer-3", &wafer));
    EXPECT_OK(wm_job_attr_double(wafer, "bad", NAN));
    EXPECT(wm_job_begin(wafer), WM_ERR_INVALID_EVENT, "attrs.bad");
    EXPECT_OK(wm_job_free(wafer)); /* never begun: records nothing */
    EXPECT_OK(wm_job_new_sub(job, "wafer-4", &wafer));
    EXPECT_OK(wm_job_begin(wafer));
    EXPECT_OK(wm_job_finish(wafer));
    EXPECT_OK(wm_job_free(wafer));
    EXPECT_OK(wm_job_finish(job));
    EXPECT_OK(wm_job_free(job));
    EXPECT(wm_job_new_sub(job, "late", &wafer), WM_ERR_INVALID_ARGUMENT, NOT_LIVE);
    EXPECT_OK(wm_close(client, 10000));
    EXPECT_OK(wm_client_free(client));

    char data[1024];
    snprintf(data, sizeof data, "%s/prepared/data", tmp_dir);
    CHECK(written_under(data, "\"attrs\":{\"recipe\":\"R7\",\"slots\":25,\"temp_c\":21.5,\"rework\":true}"));
    CHECK(written_under(data, "\"kind\":\"lot\",\"id\":\"lot-7-run-1\""));
    CHECK(written_under(data, "\"key\":\"LOT-7\""));
    CHECK(written_under(data, "\"parent\":\"lot-7-run-1\""));
    CHECK(!written_under(data, "wafer-3"));
}

/* A forked child that frees (or, in Perl, lets go out of scope) a job its parent started
 * records nothing for it: the parent ends it. */
static void test_fork_frees_quietly(void) {
    wm_client *client = new_client("fork");
    wm_job *job = NULL;
    EXPECT_OK(wm_job_start(client, "lot", NULL, &job));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        wm_status freed = wm_job_free(job);
        wm_status flushed = wm_flush(client, 10000);
        _exit(freed == WM_OK && flushed == WM_OK ? 0 : 3);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_OK(wm_job_finish(job));
    EXPECT_OK(wm_job_free(job));
    EXPECT_OK(wm_close(client, 10000));
    EXPECT_OK(wm_client_free(client));
    char data[1024];
    snprintf(data, sizeof data, "%s/fork/data", tmp_dir);
    CHECK(written_under(data, "\"kind\":\"finished\""));
    CHECK(!written_under(data, "dropped without finish"));
}

static void test_close_at_exit(void) {
    EXPECT(wm_close_at_exit(NULL, 1000), WM_ERR_INVALID_ARGUMENT, "client is NULL");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* A flush interval of an hour: only the exit hook can deliver before the child ends. */
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"app\": {\"name\": \"api-safety\"}, \"batch\": {\"flush_interval\": 3600},"
                 " \"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/exit/data\"}],"
                 " \"spool\": {\"path\": \"%s/exit/spool\"}}",
                 tmp_dir, tmp_dir);
        wm_config *config = NULL;
        wm_client *client = NULL;
        int ok = wm_config_from_json(json, &config) == WM_OK && wm_client_new(config, &client) == WM_OK &&
                 wm_close_at_exit(client, 10000) == WM_OK &&
                 wm_emit_json(client, "{\"kind\": \"heartbeat\", \"entity\": {\"kind\": \"tool\", \"id\": \"exit-hook\"}}") == WM_OK;
        exit(ok ? 0 : 3); /* neither closed nor freed */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char data[1024];
    snprintf(data, sizeof data, "%s/exit/data", tmp_dir);
    CHECK(written_under(data, "exit-hook"));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void) {
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"version and last error", test_version_and_last_error},
        {"NULL arguments", test_nulls},
        {"_free accepts NULL", test_free_accepts_null},
        {"invalid UTF-8", test_invalid_utf8},
        {"malformed JSON and invalid values", test_malformed_json},
        {"config from file and environment", test_config_sources},
        {"use after close", test_use_after_close},
        {"close reports undelivered events", test_close_reports_undelivered},
        {"use of an ended job", test_ended_job},
        {"double free, use after free, wrong kind", test_double_free_and_use_after_free},
        {"panics are caught", test_panics_are_caught},
        {"last error is per thread", test_last_error_is_per_thread},
        {"threads share a client and its jobs", test_threads_share_a_client},
        {"the program's name when no app name is configured", test_program_name},
        {"a job prepared without JSON", test_prepared_job},
        {"a forked child's free of its parent's job records nothing", test_fork_frees_quietly},
        {"clients closed at exit", test_close_at_exit},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failed;
        tests[i].run();
        printf("%s %s\n", failed == before ? "ok  " : "FAIL", tests[i].name);
    }
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("api_safety: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
