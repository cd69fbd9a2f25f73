package realserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Host is what the doctor reads on the real server: files under /proc/sys
// and the output of commands that only look (ip -j, ss, nft -j list, tc -j
// ... show, bpftool -j ... show/dump). SystemHost reads the running
// machine; tests give recorded answers.
type Host interface {
	// ReadFile returns a file's contents.
	ReadFile(name string) ([]byte, error)
	// Output runs argv and returns its standard output. A program that
	// is not installed yields an error that wraps exec.ErrNotFound; one
	// that fails, an error with what it wrote to standard error.
	Output(ctx context.Context, argv ...string) ([]byte, error)
}

// SystemHost reads the machine (and the network namespace) the calling
// thread is in.
type SystemHost struct {
	// Path is the list of directories commands are looked up in,
	// separated by colons; empty means $PATH.
	Path string
}

// ReadFile reads name with os.ReadFile.
func (h SystemHost) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Output runs argv without a shell.
func (h SystemHost) Output(ctx context.Context, argv ...string) ([]byte, error) {
	prog, err := h.lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.Args[0] = argv[0]
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &CommandError{Argv: argv, Err: err, Stderr: stderr.String()}
	}
	return out, nil
}

func (h SystemHost) lookPath(name string) (string, error) {
	if h.Path == "" || strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(h.Path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// CommandError is a command that ran and failed.
type CommandError struct {
	Argv   []string
	Err    error
	Stderr string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// whyNot says in a few words why something could not be read: a missing
// program, missing permission, or the error itself.
func whyNot(argv0 string, err error) string {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return argv0 + " is not installed (not found in PATH)"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EPERM),
		strings.Contains(err.Error(), "Operation not permitted"):
		return err.Error() + " (run as root)"
	}
	return err.Error()
}
