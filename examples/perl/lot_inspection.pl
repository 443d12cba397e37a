#!/usr/bin/perl
# A lot inspection the way fab Perl does it: one process per wafer (Parallel::ForkManager),
# each wafer a subjob of the lot, with progress, measurements and log lines (through
# Log::Any), and a wafer that fails without stopping the lot.
#
#   perl -Mblib=perl examples/perl/lot_inspection.pl [LOT-ID] [WAFERS]
#
# Configuration as every wafermon program: WAFERMON_CONFIG or WAFERMON_* variables; by
# default JSONL files under ./wafermon-data.
use strict;
use warnings;

use Log::Any '$log';
use Log::Any::Adapter ('Wafermon', log_level => 'info');
use Parallel::ForkManager;
use Wafermon;

my $lot_id = shift // 'LOT-4711';
my $wafers = shift // 25;
my $workers = 4;

my $wm = Wafermon->init;    # the process-wide client; forked workers use it too

sub inspect_wafer {
    my ($wafer, $slot) = @_;
    my $defects = 0;
    for my $site (1 .. 5) {
        $defects += ($slot * 7 + $site * 3) % 4 == 0 ? 1 : 0;
        $wafer->progress($site * 20, "site $site of 5");
    }
    $wafer->metric(defects => $defects, thickness_nm => 100 + ($slot % 5) * 0.4);
    die "chuck vacuum lost at slot $slot\n" if $slot == 13;
    $log->info("slot $slot: $defects defects");
    return $defects;
}

$wm->run_job('lot-inspection', kind => 'lot', key => $lot_id, attrs => { recipe => 'INSP-7', wafers => $wafers }, sub {
    my ($lot) = @_;
    my $pm = Parallel::ForkManager->new($workers);
    my ($done, $failed) = (0, 0);
    $pm->run_on_finish(sub {
        my (undef, $exit_code) = @_;
        $exit_code ? $failed++ : $done++;
        $lot->progress(100 * ($done + $failed) / $wafers, "$done inspected, $failed failed");
    });
    for my $slot (1 .. $wafers) {
        $pm->start and next;
        # In the child: a subjob of the lot; a die fails it (and is reported by exit code).
        my $ok = eval {
            $lot->run_subjob('wafer', kind => 'wafer', key => sprintf('%s-W%02d', $lot_id, $slot),
                sub { inspect_wafer($_[0], $slot) });
            1;
        };
        $pm->finish($ok ? 0 : 1);
    }
    $pm->wait_all_children;
    $lot->metric(wafers_ok => $done, wafers_failed => $failed);
    $log->warning("$failed wafer(s) failed") if $failed;
});

$wm->close(timeout => 10);
