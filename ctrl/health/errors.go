package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"
)

// timeoutError is returned when a check ran out of time. It matches
// context.DeadlineExceeded with errors.Is and reports Timeout() true.
type timeoutError struct {
	msg string
}

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Unwrap() error   { return context.DeadlineExceeded }
func (e *timeoutError) Temporary() bool { return true }

// canceledError is returned when the check's context was canceled (the
// target was stopped) rather than timed out.
type canceledError struct{}

func (canceledError) Error() string { return "check canceled" }
func (canceledError) Unwrap() error { return context.Canceled }

// budget is the time the check was given: from start to the context's
// deadline, rounded to the millisecond so a 2s timeout prints as "2s".
func budget(ctx context.Context, start time.Time) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Since(start).Round(time.Millisecond)
	}
	d := dl.Sub(start).Round(time.Millisecond)
	if d < 0 {
		d = 0
	}
	return d
}

func errTimeout(ctx context.Context, start time.Time) error {
	return &timeoutError{msg: fmt.Sprintf("timeout after %s", budget(ctx, start))}
}

// ctxError describes why ctx ended: a timeout or a cancellation.
func ctxError(ctx context.Context, start time.Time) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return canceledError{}
	}
	return errTimeout(ctx, start)
}

// netErr turns an error from the net package into a short sentence:
// "connect 192.0.2.21:80: connection refused", "timeout after 2s".
// op and addr name what was being done; a failed dial is always reported as
// "connect addr" whatever op says.
func netErr(ctx context.Context, start time.Time, op, addr, dialAddr string, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, start)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimeout(ctx, start)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// A socket deadline derived from ctx fired a moment before ctx
		// itself reports it.
		return errTimeout(ctx, start)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		op, addr = "connect", dialAddr
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("%s %s: %w", op, addr, errno)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return fmt.Errorf("%s %s: %w", op, addr, err)
}
