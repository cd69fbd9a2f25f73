//go:build !amd64

package pipeline

import "unsafe"

// prefetch is a no-op where dsrlb has no prefetch instruction wired up.
func prefetch(addr unsafe.Pointer) {}
