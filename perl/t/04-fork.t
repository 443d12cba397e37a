#!/usr/bin/perl
# fork: 8 children each report 10,000 events through the client and the job objects they
# inherited, while the parent reports its own. Every event arrives exactly once; a child's
# copy of the parent's job ends nothing. Deadlines (alarm) turn a hang into a failure.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;
use Wafermon;
use WafermonTest qw(config_in read_events temp_dir with_deadline);

use constant { CHILDREN => 8, EVENTS => 10_000 };

my $dir = temp_dir();
my $wm = Wafermon->new(config => config_in("$dir"));
my $parent_job = $wm->job('parent', key => 'P');

my @pids;
with_deadline(300, 'children report and exit', sub {
    for my $child (1 .. CHILDREN) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $status = eval {
                my $job = $wm->job("child-$child", key => "C$child");
                $job->metric(n => $_) for 1 .. EVENTS;
                $job->finish;
                1;
            } ? 0 : 1;
            print STDERR "child $child: $@" if $status;
            exit $status;    # a normal exit: the core's exit hook delivers the child's events
        }
        push @pids, $pid;
    }
    $parent_job->metric(n => $_) for 1 .. EVENTS;
    for my $pid (@pids) {
        waitpid($pid, 0);
        is($? >> 8, 0, "child $pid exited cleanly");
    }
});

$parent_job->finish;
ok(with_deadline(60, 'close', sub { $wm->close(timeout => 30) }), 'the parent delivers everything');

my $events = with_deadline(300, 'read back', sub { read_events("$dir/data") });
my (%seen, %kinds, @duplicates);
for my $event (@$events) {
    my $name = $event->{entity}{name};
    $kinds{$name}{ $event->{kind} }++;
    next unless $event->{kind} eq 'metric';
    my $n = $event->{metrics}{n};
    push @duplicates, "$name:$n" if $seen{$name}{$n}++;
}
is_deeply(\@duplicates, [], 'no event arrives twice');
for my $name ('parent', map { "child-$_" } 1 .. CHILDREN) {
    my $count = keys %{ $seen{$name} // {} };
    is($count, EVENTS, "$name: every metric arrived");
    is_deeply($kinds{$name}, { started => 1, metric => EVENTS, finished => 1 }, "$name: started and finished once");
}
my %ids;
$ids{ $_->{id} }++ for @$events;
is(scalar(grep { $_ > 1 } values %ids), 0, 'every event id is unique');

done_testing;
