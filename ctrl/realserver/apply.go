package realserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Shell returns the step's command as one shell line: arguments quoted
// where the shell would otherwise change them, "|| true" after a step that
// may fail. Empty for a comment-only step.
func (s Step) Shell() string {
	line := s.command()
	if line != "" && s.MayFail {
		line += " || true"
	}
	return line
}

// command is the argv, quoted for the shell.
func (s Step) command() string {
	q := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote leaves words made of safe characters as they are and puts
// anything else in single quotes.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Format writes the steps as a shell script: each comment line prefixed
// with "# ", then the command. A blank line separates steps that have a
// comment from what came before.
func Format(w io.Writer, steps []Step) error {
	var b bytes.Buffer
	for i, s := range steps {
		if s.Comment != "" {
			if i > 0 {
				b.WriteByte('\n')
			}
			for line := range strings.Lines(s.Comment) {
				b.WriteString("# " + strings.TrimRight(line, "\n") + "\n")
			}
		}
		if len(s.Argv) > 0 {
			b.WriteString(s.Shell() + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Runner runs one command and returns its combined output.
type Runner func(ctx context.Context, argv []string) ([]byte, error)

// ExecRunner runs argv as a child process, without a shell.
func ExecRunner(ctx context.Context, argv []string) ([]byte, error) {
	return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
}

// StepError is the failure of one step: which, the command and what it said.
type StepError struct {
	Index  int // 1-based, among the steps with a command
	Total  int
	Step   Step
	Output string
	Err    error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %d of %d failed: %s: %v", e.Index, e.Total, e.Step.command(), e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + strings.ReplaceAll(out, "\n", "; ")
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// Apply runs the steps' commands in order and stops at the first failure
// of a step that may not fail, returning a *StepError. Steps that may fail
// and do are reported to nothing; use ApplyWith to see them.
func Apply(ctx context.Context, steps []Step) error {
	return ApplyWith(ctx, steps, ExecRunner, nil)
}

// ApplyWith is Apply with its own runner, printing each command before it
// runs and each ignored failure to log (if not nil).
func ApplyWith(ctx context.Context, steps []Step, run Runner, log io.Writer) error {
	total := 0
	for _, s := range steps {
		if len(s.Argv) > 0 {
			total++
		}
	}
	n := 0
	for _, s := range steps {
		if len(s.Argv) == 0 {
			continue
		}
		n++
		if err := ctx.Err(); err != nil {
			return &StepError{Index: n, Total: total, Step: s, Err: err}
		}
		if log != nil {
			fmt.Fprintf(log, "+ %s\n", s.Shell())
		}
		out, err := run(ctx, s.Argv)
		if err == nil {
			continue
		}
		se := &StepError{Index: n, Total: total, Step: s, Output: string(out), Err: err}
		if !s.MayFail {
			return se
		}
		if log != nil {
			fmt.Fprintf(log, "  ignored: %v\n", se)
		}
	}
	return nil
}
