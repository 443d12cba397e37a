#!/usr/bin/perl
# The Log::Any adapter attaches log lines to the current job, at the mapped level.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
BEGIN { eval { require Log::Any; 1 } or plan skip_all => 'Log::Any is not installed (liblog-any-perl)' }
use Log::Any '$log';
use Log::Any::Adapter;
use Wafermon;
use WafermonTest qw(config_in read_events temp_dir);

my $dir = temp_dir();
my $wm = Wafermon->new(config => config_in("$dir"));
Log::Any::Adapter->set('Wafermon', log_level => 'debug');

$log->info('outside any job');
my $id;
$wm->run_job('etch', sub {
    $id = $_[0]->id;
    $log->trace('below the level');
    $log->debug('pumping');
    $log->notice('pumped');
    $log->warning('pressure high');
    $log->alert('chamber open');
    $log->info("bad \xff bytes");    # refused by the core: dropped, and the block goes on
    ok($log->is_info, 'is_info inside a job');
});
ok(!$log->is_info, 'not outside a job');
$wm->close;

my @logs = map { [ $_->{level}, $_->{message} ] }
    grep { $_->{kind} eq 'log' && $_->{entity}{id} eq $id } @{ read_events("$dir/data") };
is_deeply(\@logs, [ [ debug => 'pumping' ], [ info => 'pumped' ], [ warning => 'pressure high' ],
    [ critical => 'chamber open' ] ], 'the lines of the job, at the mapped levels; nothing else');
ok(!eval { Log::Any::Adapter->set('Wafermon', log_level => 'loud'); 1 }, 'an unknown level is refused');
like("$@", qr/not a Log::Any level/, 'saying so');

done_testing;
