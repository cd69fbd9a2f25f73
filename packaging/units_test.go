package packaging

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// unitEntry is one "Key=Value" line of a systemd unit file.
type unitEntry struct {
	Section, Key, Value string
}

// unitFile is a parsed unit file, in file order.
type unitFile []unitEntry

// readUnit parses the subset of systemd's unit syntax that dsrlb's units
// use: [Section] headers, Key=Value lines, comments starting with # or ;.
// Continuation lines are rejected, so a unit that needs them fails here
// rather than being read wrong.
func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u unitFile
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not supported by this test", path, n)
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not Key=Value in a section: %q", path, n, line)
			}
			u = append(u, unitEntry{section, strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// all returns every value of section.key, in order.
func (u unitFile) all(section, key string) []string {
	var out []string
	for _, e := range u {
		if e.Section == section && e.Key == key {
			out = append(out, e.Value)
		}
	}
	return out
}

// one returns the single value of section.key ("" if absent) and fails
// the test if it is set more than once.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u.all(section, key)
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	t.Fatalf("%s.%s is set %d times: %q", section, key, len(v), v)
	return ""
}

// words returns the space-separated words of every value of section.key.
func (u unitFile) words(section, key string) []string {
	var out []string
	for _, v := range u.all(section, key) {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// readEnvironmentFile parses an EnvironmentFile= as systemd does for the
// forms dsrlb's uses: KEY=VALUE lines, comments, values optionally in
// double or single quotes.
func readEnvironmentFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", path, n+1, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	return env
}

// execCommand is one Exec*= line of a unit: its "+", "-", ... prefixes and
// its argument vector after systemd's variable expansion.
type execCommand struct {
	Prefix string
	Argv   []string
}

// expandExec splits an Exec*= value into its prefixes and words and
// expands variables as systemd does: "$NAME" becomes the value's
// whitespace-separated words (none for an empty value), "${NAME}" one word.
// Quoting is not supported (dsrlb's units use none) and fails the test.
func expandExec(t *testing.T, value string, env map[string]string) execCommand {
	t.Helper()
	if strings.ContainsAny(value, `"'\`) {
		t.Fatalf("Exec line %q: quoting is not supported by this test", value)
	}
	var c execCommand
	for value != "" && strings.ContainsRune("@-:+!", rune(value[0])) {
		c.Prefix += value[:1]
		value = value[1:]
	}
	for _, w := range strings.Fields(value) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			c.Argv = append(c.Argv, env[w[2:len(w)-1]])
		case strings.HasPrefix(w, "$"):
			c.Argv = append(c.Argv, strings.Fields(env[w[1:]])...)
		case strings.Contains(w, "$"):
			t.Fatalf("Exec line %q: a variable inside a word is not supported by this test", value)
		default:
			c.Argv = append(c.Argv, w)
		}
	}
	if len(c.Argv) == 0 {
		t.Fatalf("Exec line %q has no command", value)
	}
	return c
}

func (c execCommand) String() string {
	return fmt.Sprintf("%s%s", c.Prefix, strings.Join(c.Argv, " "))
}
