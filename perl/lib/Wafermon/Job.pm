package Wafermon::Job;

use strict;
use warnings;

our $VERSION = '0.1.0';

# id, progress, metric, log, finish, fail and cancel are XS (Wafermon.xs); Wafermon loads it.
require Wafermon;

# An exception no eval will catch, so the program is dying with it: Perl does not put it in
# $@, so jobs ended by the destruction that follows would not know it otherwise. The hook
# only records; a handler installed before this module still runs.
our $FATAL;
{
    my $previous = $SIG{__DIE__};
    $SIG{__DIE__} = sub {
        $FATAL = $_[0] if defined $^S && !$^S;
        $previous->(@_) if ref $previous eq 'CODE';
    };
}

sub client { $_[0]{client} }

sub subjob {
    my ($self, $name, %opts) = @_;
    my @spec = map { delete $opts{$_} } qw(kind key id attrs);
    Wafermon::_unknown('subjob', \%opts);
    return Wafermon::_start_job($self->{client}, $self, $name, @spec);
}

sub run_subjob {
    my $self = shift;
    my $block = pop;
    Wafermon::Error->throw(kind => 'invalid_argument', message => 'invalid argument: run_subjob needs a code block last')
        unless ref $block eq 'CODE';
    return $self->subjob(@_)->_run($block);
}

# The body of run_job: the block runs with this job current; dying fails the job and
# rethrows the same error; returning finishes it (unless the block ended it itself).
sub _run {
    my ($self, $block) = @_;
    local @Wafermon::CURRENT = (@Wafermon::CURRENT, $self);
    my $want = wantarray;
    my @result;
    my $ok = eval {
        if ($want) { @result = $block->($self) }
        elsif (defined $want) { $result[0] = $block->($self) }
        else { $block->($self) }
        1;
    };
    if (!$ok) {
        my $error = $@;
        if ($self->_open) {
            local $@;
            eval { $self->fail(_reason($error)) };
        }
        die $error;
    }
    $self->finish if $self->_open;
    return $want ? @result : $result[0];
}

sub _reason {
    my ($error) = @_;
    my $text = defined $error && length "$error" ? "$error" : 'died';
    $text =~ s/\s+\z//;
    return $text;
}

sub DESTROY {
    my ($self) = @_;
    return unless _open($self);    # the common case: ended, or another process's job
    # While an exception unwinds through the job's scope it is in $@ (or, uncaught, in
    # $FATAL). One that was already there when the job started is not this job's.
    my $error = length($@ // '') ? $@ : $FATAL;
    local ($@, $!, $?);
    eval {
        if (_last($self) && defined $error && length $error
            && !(defined $self->{_error_before} && $error eq $self->{_error_before})) {
            $self->fail(_reason($error));
        }
        1;
    };
    # Otherwise the handle's release records `canceled` ("dropped without finish").
    return;
}

1;

__END__

=head1 NAME

Wafermon::Job - a running job, subjob, lot, wafer or step

=head1 SYNOPSIS

    my $lot = $wm->job('lot-dispatch', kind => 'lot', key => 'LOT-1', attrs => { recipe => 'R7' });
    $lot->progress(30, 'coat');
    $lot->metric(thickness_nm => 101.2, dose_mj => 31);
    $lot->log(info => 'coat done');

    my $wafer = $lot->subjob('wafer', kind => 'wafer', key => 'W01');
    $wafer->fail('chuck vacuum lost');

    print $lot->id, "\n";
    $lot->finish;

=head1 DESCRIPTION

A started job. Its events carry its entity (kind, id, key, parent); its ending carries the
CPU, memory and duration the core measured.

A job that goes out of scope without an ending is recorded as C<canceled> ("dropped without
finish"), or as C<failed> with the error when an exception is unwinding through its scope.
This also holds in global destruction, without warnings, and for a program that dies
(the module records fatal exceptions through C<$SIG{__DIE__}>, chaining to a handler that
was there before it was loaded). A job that goes out of scope after an exception was caught
by an C<eval> outside it, with C<$@> still set, is recorded as failed with that exception. In a forked child, a job the parent
started is not ended by the child's copy.

=head1 METHODS

=over

=item progress($percent, $message)

0 to 100; the message is optional. Returns the job, so calls chain.

=item metric(name => $value, ...)

One or more finite numbers. Returns the job.

=item log($level => $message)

Level C<debug>, C<info>, C<warning>, C<error> or C<critical>. Returns the job.

=item subjob($name, kind => ..., key => ..., id => ..., attrs => {...})

A started child of this job (entity kind C<subjob> unless given).

=item run_subjob($name, %options, sub { ... })

As L<Wafermon/run_job>, for a subjob of this job.

=item finish, fail($message), cancel($message)

End the job. Any call after the ending dies with a C<closed> L<Wafermon::Error>.

=item id

The entity id (a UUIDv7 unless one was given).

=back

=cut
