#!/usr/bin/perl
# What reporting costs the calling Perl code, beside what a Perl shop pays today for one log
# line: Log::Log4perl writing one line to a file appender. Same process, same run.
#
#   cd perl && perl Makefile.PL && make && perl -Mblib bench/emit.pl [seconds per case]
#
# Prints microseconds per call: wall clock of Benchmark's timeit over a fixed count, the
# median of 5 rounds, with a flush between cases so that one case's backlog is not billed to
# the next (each count stays well inside the queue, so this is the caller's burst cost).
use strict;
use warnings;

use Benchmark qw(:hireswallclock timeit);
use File::Temp ();
use Wafermon;

my $rounds = shift // 5;
my $dir = File::Temp->newdir('wafermon-bench-XXXXXX', TMPDIR => 1);

my $wm = Wafermon->new(config => {
    app             => { name => 'bench', site_id => 'fab-bench' },
    direct_backends => [ { type => 'filesystem', path => "$dir/data" } ],
    spool           => { path => "$dir/spool" },
});
my $job = $wm->job('bench-lot', kind => 'lot', key => 'LOT-B');

my %cases = (
    'job->metric'   => [ 100_000, sub { $job->metric(thickness_nm => 101.2) } ],
    'job->log'      => [ 100_000, sub { $job->log(info => 'coat done on wafer 7') } ],
    'run_job block' => [ 20_000,  sub { $wm->run_job('wafer', key => 'W07', sub { 1 }) } ],
);

my $have_log4perl = eval { require Log::Log4perl; 1 };
if ($have_log4perl) {
    Log::Log4perl->init(\<<"CONF");
log4perl.logger.bench = INFO, File
log4perl.appender.File = Log::Log4perl::Appender::File
log4perl.appender.File.filename = $dir/log4perl.log
log4perl.appender.File.layout = Log::Log4perl::Layout::PatternLayout
log4perl.appender.File.layout.ConversionPattern = %d %p %c - %m%n
CONF
    my $logger = Log::Log4perl->get_logger('bench');
    $cases{'Log4perl file line'} = [ 20_000, sub { $logger->info('coat done on wafer 7') } ];
} else {
    warn "Log::Log4perl is not installed (Debian: liblog-log4perl-perl): no comparison\n";
}

my %us;
for my $name (sort keys %cases) {
    my ($count, $code) = @{ $cases{$name} };
    my @round;
    for (1 .. $rounds) {
        $wm->flush(timeout => 60);
        my $t = timeit($count, $code);
        push @round, 1e6 * $t->[0] / $count;
    }
    $us{$name} = (sort { $a <=> $b } @round)[ int($rounds / 2) ];
}
printf "%-20s %10s\n", 'operation', 'us/call';
printf "%-20s %10.3f\n", $_, $us{$_} for sort { $us{$a} <=> $us{$b} } keys %us;
if ($have_log4perl) {
    my $log4perl = $us{'Log4perl file line'};
    for my $name ('job->metric', 'run_job block') {
        printf "%s is %s than one Log4perl file line (%.1fx)\n", $name,
            $us{$name} < $log4perl ? 'faster' : 'SLOWER', $log4perl / $us{$name};
    }
}
$job->finish;
$wm->close(timeout => 30);
