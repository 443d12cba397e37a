#!/usr/bin/perl
# ithreads: 4 threads report 10,000 events each through the client they copied, while the
# main thread's job is copied into every thread too. The handles are shared, counted and
# freed once: no double free, every event once, and the copied job ends nothing.
use strict;
use warnings;

use Config;
BEGIN {
    unless ($Config{useithreads}) {
        print "1..0 # SKIP this perl has no ithreads\n";
        exit 0;
    }
}
use threads;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Wafermon;
use WafermonTest qw(config_in read_events temp_dir with_deadline);

use constant { THREADS => 4, EVENTS => 10_000 };

my $dir = temp_dir();
my $wm = Wafermon->new(config => config_in("$dir"));
my $main_job = $wm->job('main', key => 'M');

my @results = with_deadline(300, 'threads report and end', sub {
    my @threads = map {
        my $n = $_;
        threads->create(sub {
            my $job = $wm->job("thread-$n", key => "T$n");
            $job->metric(n => $_) for 1 .. EVENTS;
            $job->finish;
            $main_job->log(info => "thread $n done");    # the copied job is the same job
            return $job->id;
        });
    } 1 .. THREADS;
    map { $_->join } @threads;
});
is(scalar(grep { defined } @results), THREADS, 'every thread returned');

$main_job->metric(after_threads => 1);    # still usable: the threads' copies freed nothing
$main_job->finish;
ok(with_deadline(60, 'close', sub { $wm->close(timeout => 30) }), 'everything is delivered');

my $events = with_deadline(300, 'read back', sub { read_events("$dir/data") });
my (%seen, %kinds, @duplicates);
for my $event (@$events) {
    my $name = $event->{entity}{name};
    $kinds{$name}{ $event->{kind} }++;
    next unless $event->{kind} eq 'metric' && exists $event->{metrics}{n};
    push @duplicates, "$name:$event->{metrics}{n}" if $seen{$name}{ $event->{metrics}{n} }++;
}
is_deeply(\@duplicates, [], 'no event arrives twice');
for my $n (1 .. THREADS) {
    is(scalar keys %{ $seen{"thread-$n"} // {} }, EVENTS, "thread-$n: every metric arrived");
    is_deeply($kinds{"thread-$n"}, { started => 1, metric => EVENTS, finished => 1 },
        "thread-$n: started and finished once");
}
is_deeply($kinds{main}, { started => 1, log => THREADS, metric => 1, finished => 1 },
    'the main job: one log per thread, ended once (no cancel from a thread\'s copy)');

done_testing;
