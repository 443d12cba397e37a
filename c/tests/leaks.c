/*
 * leaks: init/close cycles through the C ABI leave nothing behind. Each cycle parses a
 * config, makes a client, starts and finishes a job, emits an event, closes and frees
 * everything. After the warm-up (a tenth of the cycles), the process's threads and open
 * file descriptors must not change and its resident memory may grow only by allocator
 * slack. Prints the counts before and after.
 *
 *   leaks DIR [CYCLES]      CYCLES defaults to 1000 (the figure is 10000)
 */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wafermon.h>

struct footprint {
    long threads;
    long fds;
    long rss_kib;
};

static long status_field(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t len = strlen(name);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, name, len) == 0) {
            value = strtol(line + len, NULL, 10);
            break;
        }
    }
    if (f) fclose(f);
    return value;
}

static struct footprint footprint(void) {
    struct footprint fp = {status_field("Threads:"), 0, status_field("VmRSS:")};
    DIR *d = opendir("/proc/self/fd");
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        if (entry->d_name[0] != '.') fp.fds++;
    }
    /* The directory's own descriptor was open while counting. */
    if (d) {
        closedir(d);
        fp.fds--;
    }
    return fp;
}

static int ok(wm_status status, const char *what, long n) {
    if (status == WM_OK) return 1;
    fprintf(stderr, "leaks: cycle %ld: %s failed (status %d): %s\n", n, what, (int)status,
            wm_last_error());
    return 0;
}

static int cycle(const char *config_json, long n) {
    wm_config *config = NULL;
    wm_client *client = NULL;
    wm_job *job = NULL;
    int good = ok(wm_config_from_json(config_json, &config), "wm_config_from_json", n) &&
               ok(wm_client_new(config, &client), "wm_client_new", n) &&
               ok(wm_job_start(client, "leak-check", "{\"kind\": \"lot\"}", &job),
                  "wm_job_start", n) &&
               ok(wm_emit_json(client, "{\"kind\": \"heartbeat\","
                                       " \"entity\": {\"kind\": \"tool\", \"id\": \"etch-1\"}}"),
                  "wm_emit_json", n) &&
               ok(wm_job_finish(job), "wm_job_finish", n) &&
               ok(wm_close(client, 10000), "wm_close", n);
    good = ok(wm_job_free(job), "wm_job_free", n) && good;
    good = ok(wm_client_free(client), "wm_client_free", n) && good;
    good = ok(wm_config_free(config), "wm_config_free", n) && good;
    return good;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: leaks DIR [CYCLES]\n");
        return 2;
    }
    long cycles = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
    long warm_up = cycles / 10 > 10 ? cycles / 10 : 10;
    char config[2048];
    snprintf(config, sizeof config,
             "{\"app\": {\"name\": \"leaks\"},"
             " \"direct_backends\": [{\"type\": \"filesystem\", \"path\": \"%s/data\"}],"
             " \"spool\": {\"path\": \"%s/spool\"}, \"batch\": {\"flush_interval\": 0.05}}",
             argv[1], argv[1]);

    for (long n = 0; n < warm_up; n++) {
        if (!cycle(config, n)) return 1;
    }
    struct footprint before = footprint();
    for (long n = warm_up; n < cycles; n++) {
        if (!cycle(config, n)) return 1;
    }
    struct footprint after = footprint();
    printf("c: %ld init/close cycles: threads %ld -> %ld, open fds %ld -> %ld, RSS %ld -> %ld KiB"
           " (counted after %ld warm-up cycles)\n",
           cycles, before.threads, after.threads, before.fds, after.fds, before.rss_kib,
           after.rss_kib, warm_up);
    int flat = 1;
    if (after.threads != before.threads) {
        fprintf(stderr, "leaks: threads left running\n");
        flat = 0;
    }
    if (after.fds != before.fds) {
        fprintf(stderr, "leaks: files or sockets left open\n");
        flat = 0;
    }
    /* As generous as the Rust check: only a leak of KBs per cycle shows. */
    if (after.rss_kib - before.rss_kib >= 8 * 1024) {
        fprintf(stderr, "leaks: RSS grew by %ld KiB\n", after.rss_kib - before.rss_kib);
        flat = 0;
    }
    return flat ? 0 : 1;
}
