package shm

import "errors"

// Sentinel errors. Errors returned by [Open] and [Create] wrap exactly one of
// the file-level sentinels; test them with errors.Is.
var (
	// ErrNotExist: the file does not exist (the data plane has not created
	// it yet). Errors wrapping it also wrap fs.ErrNotExist.
	ErrNotExist = errors.New("shared-memory file does not exist")
	// ErrForeign: the file is not a dsrlb shared-memory file (bad magic,
	// too short to hold one, or not a regular file).
	ErrForeign = errors.New("not a dsrlb shared-memory file")
	// ErrVersion: the file has another layout version than LayoutVersion.
	ErrVersion = errors.New("unsupported layout version")
	// ErrTorn: the file is shorter than its header claims.
	ErrTorn = errors.New("shared-memory file is torn")
	// ErrNotReady: the header is valid but the creator has not set the
	// ready flag.
	ErrNotReady = errors.New("shared-memory file is not ready")
	// ErrGeometry: the sizes or offsets in the header (or a Geometry passed
	// to Create) are inconsistent or out of range.
	ErrGeometry = errors.New("bad shared-memory geometry")
	// ErrOwned: Create found a valid file whose data plane is still alive.
	ErrOwned = errors.New("shared-memory file owned by another data plane")

	// ErrFull: TryPush found no free slot.
	ErrFull = errors.New("ring full")
	// ErrTooLarge: the payload does not fit in one slot (SlotSize-8 bytes).
	ErrTooLarge = errors.New("message larger than ring slot")
	// ErrCorrupt: the ring indices or a slot's length violate the ring's
	// invariants (something other than this package wrote the ring). The
	// consumer can recover with Reset.
	ErrCorrupt = errors.New("ring corrupt")
)

// Error is the error type of Open and Create for problems with the file
// itself. Kind is one of the file-level sentinels above.
type Error struct {
	Path string
	Kind error // ErrNotExist, ErrForeign, ErrVersion, ErrTorn, ErrNotReady, ErrGeometry, ErrOwned
	msg  string
	err  error // underlying error, if any (e.g. the *fs.PathError)
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel and, if any, the underlying error.
func (e *Error) Unwrap() []error {
	if e.err != nil {
		return []error{e.Kind, e.err}
	}
	return []error{e.Kind}
}
