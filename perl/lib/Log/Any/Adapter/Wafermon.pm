package Log::Any::Adapter::Wafermon;

use strict;
use warnings;

our $VERSION = '0.1.0';

use Log::Any::Adapter::Util ();
use Log::Any::Adapter::Base;
our @ISA = ('Log::Any::Adapter::Base');

use Wafermon;

# Log::Any's nine levels onto the core's five.
my %LEVEL = (
    trace   => 'debug',   debug => 'debug',
    info    => 'info',    notice => 'info',
    warning => 'warning',
    error   => 'error',
    critical => 'critical', alert => 'critical', emergency => 'critical',
);

sub init {
    my ($self) = @_;
    my $level = $self->{log_level} // 'trace';
    my $numeric = $level =~ /\D/ ? Log::Any::Adapter::Util::numeric_level($level) : $level;
    defined $numeric or Wafermon::Error->throw(kind => 'invalid_argument', path => 'log_level',
        message => "invalid argument: '$level' is not a Log::Any level");
    $self->{log_level} = $numeric;
    return;
}

for my $method (Log::Any::Adapter::Util::logging_methods()) {
    my $numeric = Log::Any::Adapter::Util::numeric_level($method);
    my $level = $LEVEL{$method} // 'info';
    no strict 'refs';
    *{$method} = sub {
        my ($self, $text) = @_;
        return if $numeric > $self->{log_level};
        my $job = Wafermon->current_job or return;
        # A log line must never break the application: a refused line is dropped.
        eval { $job->log($level => $text); 1 };
        return;
    };
}

for my $method (Log::Any::Adapter::Util::detection_methods()) {
    my $numeric = Log::Any::Adapter::Util::numeric_level(substr $method, 3);
    no strict 'refs';
    *{$method} = sub { $numeric <= $_[0]{log_level} && defined Wafermon->current_job };
}

1;

__END__

=head1 NAME

Log::Any::Adapter::Wafermon - Log::Any lines as log events of the current Wafermon job

=head1 SYNOPSIS

    use Log::Any '$log';
    use Log::Any::Adapter ('Wafermon', log_level => 'info');

    $wm->run_job('etch', key => 'LOT-1', sub {
        $log->info('chamber pumped down');      # a log event of the etch job
    });
    $log->info('outside any job');             # dropped: there is no job to attach it to

=head1 DESCRIPTION

Sends each Log::Any line to L<Wafermon/current_job> (the job of the innermost C<run_job>
block in this thread) as a log event. Levels map to the core's: trace and debug to debug,
info and notice to info, warning, error, and critical, alert and emergency to critical.
Lines below C<log_level> (default trace), outside any job, or refused by the core are
dropped; logging never dies. Needs L<Log::Any> (Debian: liblog-any-perl).

=cut
